package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/ton-custody/processor/internal/audit"
	"github.com/ton-custody/processor/internal/operators"
)

// Cookie names. Both are scoped to Prefix, HttpOnly and SameSite=Strict.
const (
	sessionCookie   = "console_session"
	loginCSRFCookie = "console_login_csrf"
)

// session is a logged-in operator.
type session struct {
	Operator  string
	Role      operators.Role
	CSRF      string
	ExpiresAt time.Time
	tokenHash []byte
}

// Can reports whether the session's role is at least role.
func (s *session) Can(role string) bool { return rank(s.Role) >= rank(operators.Role(role)) }

func rank(r operators.Role) int {
	switch r {
	case operators.RoleViewer:
		return 1
	case operators.RoleApprover:
		return 2
	case operators.RoleAdmin:
		return 3
	}
	return 0
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("console: random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

func (c *Console) cookie(name, value string, expires time.Time) *http.Cookie {
	ck := &http.Cookie{Name: name, Value: value, Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: !c.opts.InsecureCookie}
	if value == "" {
		ck.MaxAge = -1
	} else if !expires.IsZero() {
		ck.Expires = expires
	}
	return ck
}

// currentSession returns the request's session, nil when it has none or
// it expired or its operator was disabled. Only the cookie counts: an
// Authorization header (an API token) is ignored.
func (c *Console) currentSession(ctx context.Context, r *http.Request) (*session, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return nil, nil
	}
	s := &session{tokenHash: hashToken(ck.Value)}
	err = c.db.QueryRow(ctx, `SELECT s.operator, o.role, s.csrf_token, s.expires_at
		FROM console_sessions s JOIN operators o ON o.name = s.operator
		WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT o.disabled`, s.tokenHash).
		Scan(&s.Operator, &s.Role, &s.CSRF, &s.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("console: read session: %w", err)
	}
	return s, nil
}

// authed wraps a handler that needs a session: without one, GETs go to
// the login page and anything else gets 401. POSTs must carry the
// session's CSRF token and come from this origin.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.currentSession(r.Context(), r)
		if err != nil {
			c.internal(w, r, nil, err)
			return
		}
		if s == nil {
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, Prefix+"/fragment/") {
				http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
				return
			}
			c.fail(w, r, nil, http.StatusUnauthorized, "Not logged in (or the session expired): log in again.")
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) {
				c.fail(w, r, s, http.StatusForbidden, "Cross-site request refused.")
				return
			}
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, s, http.StatusBadRequest, "Malformed form.")
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.CSRF)) != 1 {
				c.fail(w, r, s, http.StatusForbidden, "The form's CSRF token is missing or wrong: reload the page and try again.")
				return
			}
		}
		h(w, r, s)
	}
}

// sameOrigin refuses requests a browser marks as cross-site (Sec-Fetch-Site)
// or whose Origin is another host. Requests with neither header (non-browser
// clients) pass: the CSRF token still has to match.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		_, host, ok := strings.Cut(o, "://")
		return ok && host == r.Host
	}
	return true
}

func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type loginData struct {
	CSRF string
	Name string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, err := c.currentSession(r.Context(), r); err == nil && s != nil {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	c.renderLogin(w, http.StatusOK, "", "")
}

func (c *Console) renderLogin(w http.ResponseWriter, status int, name, msg string) {
	tok, err := randomToken()
	if err != nil {
		c.log.Error("console: login page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, c.cookie(loginCSRFCookie, tok, time.Time{}))
	c.render(w, status, "login", page{Title: "Log in", Error: msg, Data: loginData{CSRF: tok, Name: name}})
}

// errLogin is what a failed login shows, whatever failed.
const errLogin = "Wrong operator name, password or code."

func (c *Console) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		c.fail(w, r, nil, http.StatusForbidden, "Cross-site request refused.")
		return
	}
	if err := r.ParseForm(); err != nil {
		c.renderLogin(w, http.StatusBadRequest, "", "Malformed form.")
		return
	}
	ck, err := r.Cookie(loginCSRFCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		c.renderLogin(w, http.StatusForbidden, "", "The login form expired: try again.")
		return
	}
	name := strings.ToLower(strings.TrimSpace(r.PostFormValue("name")))
	token, expires, err := c.Login(r.Context(), name, r.PostFormValue("password"), strings.TrimSpace(r.PostFormValue("code")),
		remoteAddr(r), r.UserAgent())
	switch {
	case errors.Is(err, ErrLockedOut):
		c.renderLogin(w, http.StatusTooManyRequests, name, fmt.Sprintf("Too many failed logins: %s is locked for up to %s.", name, c.opts.Lockout))
		return
	case errors.Is(err, ErrBadLogin):
		c.renderLogin(w, http.StatusUnauthorized, name, errLogin)
		return
	case err != nil:
		c.internal(w, r, nil, err)
		return
	}
	http.SetCookie(w, c.cookie(loginCSRFCookie, "", time.Time{}))
	http.SetCookie(w, c.cookie(sessionCookie, token, expires))
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

// Login errors.
var (
	// ErrBadLogin: wrong name, password or code, a disabled operator, or
	// a code already used.
	ErrBadLogin = errors.New("console: wrong operator name, password or code")
	// ErrLockedOut: too many failed logins in a row.
	ErrLockedOut = errors.New("console: too many failed logins")
)

// dummyHash makes a login of an unknown name cost what a known one does.
var dummyHash, _ = operators.HashPassword("not a password of anyone")

// loginName is the typed name as recorded: printable, at most 64
// characters, never empty.
func loginName(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return r
		}
		return -1
	}, name)
	if len([]rune(name)) > 64 {
		name = string([]rune(name)[:64])
	}
	if name == "" {
		return "(empty)"
	}
	return name
}

// Login checks name, password and TOTP code and opens a session,
// returning its cookie token and expiry. Every attempt is recorded
// (console_logins and the audit log). After MaxFailedLogins failures in a
// row within Lockout the name is refused (ErrLockedOut) until Lockout has
// passed since the last failure. A TOTP code's time step may be used
// for one login only.
func (c *Console) Login(ctx context.Context, name, password, code, remote, userAgent string) (string, time.Time, error) {
	rec := loginName(name)
	var failures int
	if err := c.db.QueryRow(ctx, `SELECT count(*) FROM console_logins
		WHERE operator = $1 AND NOT ok AND created_at > now() - make_interval(secs => $2)
		  AND id > coalesce((SELECT max(id) FROM console_logins WHERE operator = $1 AND ok), 0)`,
		rec, c.opts.Lockout.Seconds()).Scan(&failures); err != nil {
		return "", time.Time{}, fmt.Errorf("console: count failed logins: %w", err)
	}
	if failures >= c.opts.MaxFailedLogins {
		err := pgx.BeginFunc(ctx, c.db, func(tx pgx.Tx) error {
			_, err := audit.Write(ctx, tx, audit.Entry{Actor: rec, Action: "console.login_locked", Subject: "operator:" + rec,
				After: map[string]any{"remote": remote, "failures": failures}, Reason: "locked out after failed logins"})
			return err
		})
		if err != nil {
			return "", time.Time{}, err
		}
		return "", time.Time{}, ErrLockedOut
	}

	var hash, secret string
	var disabled bool
	err := c.db.QueryRow(ctx, `SELECT password_hash, totp_secret, disabled FROM operators WHERE name = $1`, name).
		Scan(&hash, &secret, &disabled)
	known := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("console: read operator: %w", err)
	}
	why := ""
	var step int64 = -1
	if !known {
		_, _ = operators.VerifyPassword(dummyHash, password)
		why = "unknown operator"
	} else if ok, err := operators.VerifyPassword(hash, password); err != nil {
		return "", time.Time{}, fmt.Errorf("console: check password: %w", err)
	} else if !ok {
		why = "wrong password"
	} else if step = totpStep(secret, code, c.opts.Now()); step < 0 {
		why = "wrong TOTP code"
	} else if disabled {
		why = "operator disabled"
	}

	var token string
	var expires time.Time
	err = pgx.BeginFunc(ctx, c.db, func(tx pgx.Tx) error {
		if why == "" {
			// One login at a time per name: the code's step is checked
			// and recorded under the lock.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('console-login:' || $1, 0))`, name); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			var last int64
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(totp_step), -1) FROM console_logins WHERE operator = $1 AND ok`, name).Scan(&last); err != nil {
				return fmt.Errorf("last code: %w", err)
			}
			if step <= last {
				why = "TOTP code already used"
			}
		}
		if why != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO console_logins (operator, ok, remote) VALUES ($1, false, $2)`, rec, remote); err != nil {
				return fmt.Errorf("record failed login: %w", err)
			}
			_, err := audit.Write(ctx, tx, audit.Entry{Actor: rec, Action: "console.login_failed", Subject: "operator:" + rec,
				After: map[string]any{"remote": remote, "failures": failures + 1}, Reason: why})
			return err
		}
		var err error
		if token, err = randomToken(); err != nil {
			return err
		}
		csrf, err := randomToken()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at <= now()`); err != nil {
			return fmt.Errorf("drop expired sessions: %w", err)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO console_sessions (token_hash, operator, csrf_token, remote, user_agent, expires_at)
			VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING expires_at`,
			hashToken(token), name, csrf, remote, truncate(userAgent, 300), c.opts.SessionTTL.Seconds()).Scan(&expires); err != nil {
			return fmt.Errorf("store session: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO console_logins (operator, ok, totp_step, remote) VALUES ($1, true, $2, $3)`, name, step, remote); err != nil {
			return fmt.Errorf("record login: %w", err)
		}
		_, err = audit.Write(ctx, tx, audit.Entry{Actor: name, Action: "console.login", Subject: "operator:" + name,
			After: map[string]any{"remote": remote, "expires_at": expires.UTC().Format(time.RFC3339)}})
		return err
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("console: login: %w", err)
	}
	if why != "" {
		return "", time.Time{}, ErrBadLogin
	}
	return token, expires, nil
}

// totpStep returns the 30-second step whose code is code (one step of
// clock skew either way), or -1.
func totpStep(secret, code string, now time.Time) int64 {
	if len(code) != 6 {
		return -1
	}
	found := int64(-1)
	for _, d := range []int64{-1, 0, 1} {
		at := now.Add(time.Duration(d) * 30 * time.Second)
		want, err := operators.TOTP(secret, at)
		if err != nil {
			return -1
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = at.Unix() / 30
		}
	}
	return found
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	err := pgx.BeginFunc(r.Context(), c.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(r.Context(), `DELETE FROM console_sessions WHERE token_hash = $1`, s.tokenHash); err != nil {
			return fmt.Errorf("console: delete session: %w", err)
		}
		_, err := audit.Write(r.Context(), tx, audit.Entry{Actor: s.Operator, Action: "console.logout", Subject: "operator:" + s.Operator,
			After: map[string]any{"remote": remoteAddr(r)}})
		return err
	})
	if err != nil {
		c.internal(w, r, s, err)
		return
	}
	http.SetCookie(w, c.cookie(sessionCookie, "", time.Time{}))
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
