// Package operators stores operator accounts: a name, a role (viewer,
// approver, admin), an argon2id password hash, an RFC 6238 TOTP secret and
// a disabled flag. Operators approve, reject and pause withdrawals
// (internal/withdrawals Controls); every change of an account is written
// to the audit log in the same transaction. Sessions, CSRF protection and
// login lockout belong to the operator console and are not here yet.
package operators

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/argon2"

	"github.com/ton-custody/processor/internal/apierr"
	"github.com/ton-custody/processor/internal/audit"
)

// Role is what an operator may do.
type Role string

// Roles, each allowed what the one before is.
const (
	// RoleViewer may look (the console, later).
	RoleViewer Role = "viewer"
	// RoleApprover may also approve and reject withdrawals and pause a
	// currency's withdrawals.
	RoleApprover Role = "approver"
	// RoleAdmin may also resume paused withdrawals.
	RoleAdmin Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleApprover:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.rank() == 0 {
		return "", fmt.Errorf("operators: role %q is not viewer, approver or admin", s)
	}
	return r, nil
}

// ErrForbidden marks refusals because of who acts: no such operator, a
// disabled one, a role too low, or the two-person rule.
var ErrForbidden = errors.New("forbidden")

func forbidden(format string, args ...any) error {
	return &apierr.Error{Kind: ErrForbidden, Msg: fmt.Sprintf(format, args...)}
}

// Forbidden is an ErrForbidden error.
func Forbidden(format string, args ...any) error { return forbidden(format, args...) }

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 12

// Issuer names the processor in authenticator apps.
const Issuer = "TON Custody"

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// CheckName checks an operator name: 1..64 of a-z 0-9 . _ -, not starting
// with a punctuation character.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("operators: name %q must be 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", name)
	}
	return nil
}

// Account is what the console learns of an operator (never the secrets).
type Account struct {
	Name     string
	Role     Role
	Disabled bool
}

// Enrolment is what Add and Reset hand out once: the TOTP secret as an
// otpauth:// URI for an authenticator app.
type Enrolment struct {
	TOTPURI    string
	TOTPSecret string
}

// Add creates an enabled operator with a password and a new TOTP secret.
// actor is who adds it (for the audit log).
func Add(ctx context.Context, db *pgxpool.Pool, actor, name string, role Role, password string) (Enrolment, error) {
	if err := checkNew(name, role, password); err != nil {
		return Enrolment{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return Enrolment{}, err
	}
	secret, err := NewTOTPSecret()
	if err != nil {
		return Enrolment{}, err
	}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO operators (name, role, password_hash, totp_secret) VALUES ($1, $2, $3, $4)
			ON CONFLICT (name) DO NOTHING`, name, role, hash, secret)
		if err != nil {
			return fmt.Errorf("operators: add %s: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return apierr.Conflict("operator %s exists (use reset)", name)
		}
		_, err = audit.Write(ctx, tx, audit.Entry{Actor: actor, Action: "operator.add", Subject: "operator:" + name,
			After: Account{Name: name, Role: role}})
		return err
	})
	if err != nil {
		return Enrolment{}, err
	}
	return enrolment(name, secret), nil
}

// Reset gives an existing operator a new password, a new TOTP secret and
// role, and enables it.
func Reset(ctx context.Context, db *pgxpool.Pool, actor, name string, role Role, password string) (Enrolment, error) {
	if err := checkNew(name, role, password); err != nil {
		return Enrolment{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return Enrolment{}, err
	}
	secret, err := NewTOTPSecret()
	if err != nil {
		return Enrolment{}, err
	}
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		before, err := lock(ctx, tx, name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE operators SET role = $2, password_hash = $3, totp_secret = $4, disabled = false WHERE name = $1`,
			name, role, hash, secret); err != nil {
			return fmt.Errorf("operators: reset %s: %w", name, err)
		}
		_, err = audit.Write(ctx, tx, audit.Entry{Actor: actor, Action: "operator.reset", Subject: "operator:" + name,
			Before: before, After: Account{Name: name, Role: role}})
		return err
	})
	if err != nil {
		return Enrolment{}, err
	}
	return enrolment(name, secret), nil
}

// Disable disables an operator: it can no longer act.
func Disable(ctx context.Context, db *pgxpool.Pool, actor, name, reason string) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		before, err := lock(ctx, tx, name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE operators SET disabled = true WHERE name = $1`, name); err != nil {
			return fmt.Errorf("operators: disable %s: %w", name, err)
		}
		after := before
		after.Disabled = true
		_, err = audit.Write(ctx, tx, audit.Entry{Actor: actor, Action: "operator.disable", Subject: "operator:" + name,
			Before: before, After: after, Reason: reason})
		return err
	})
}

func lock(ctx context.Context, tx pgx.Tx, name string) (Account, error) {
	a := Account{Name: name}
	err := tx.QueryRow(ctx, `SELECT role, disabled FROM operators WHERE name = $1 FOR UPDATE`, name).Scan(&a.Role, &a.Disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, apierr.NotFound("no operator %s", name)
	}
	if err != nil {
		return a, fmt.Errorf("operators: read %s: %w", name, err)
	}
	return a, nil
}

// Require checks, in tx, that name is an enabled operator with at least
// role, and locks its row (FOR SHARE) so it cannot be disabled before tx
// commits.
func Require(ctx context.Context, tx pgx.Tx, name string, role Role) (Account, error) {
	a := Account{Name: name}
	err := tx.QueryRow(ctx, `SELECT role, disabled FROM operators WHERE name = $1 FOR SHARE`, name).Scan(&a.Role, &a.Disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, forbidden("no operator %s", name)
	}
	if err != nil {
		return a, fmt.Errorf("operators: read %s: %w", name, err)
	}
	if a.Disabled {
		return a, forbidden("operator %s is disabled", name)
	}
	if a.Role.rank() < role.rank() {
		return a, forbidden("operator %s has role %s; this needs %s", name, a.Role, role)
	}
	return a, nil
}

// Get returns an operator's account.
func Get(ctx context.Context, db *pgxpool.Pool, name string) (Account, error) {
	a := Account{Name: name}
	err := db.QueryRow(ctx, `SELECT role, disabled FROM operators WHERE name = $1`, name).Scan(&a.Role, &a.Disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, apierr.NotFound("no operator %s", name)
	}
	if err != nil {
		return a, fmt.Errorf("operators: read %s: %w", name, err)
	}
	return a, nil
}

// CheckPassword reports whether password is name's, for an enabled
// operator. (The console's login will also check the TOTP code and
// count failures.)
func CheckPassword(ctx context.Context, db *pgxpool.Pool, name, password string) (bool, error) {
	var hash string
	var disabled bool
	err := db.QueryRow(ctx, `SELECT password_hash, disabled FROM operators WHERE name = $1`, name).Scan(&hash, &disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("operators: read %s: %w", name, err)
	}
	ok, err := VerifyPassword(hash, password)
	return ok && !disabled, err
}

func checkNew(name string, role Role, password string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if len([]rune(password)) < MinPasswordLength {
		return fmt.Errorf("operators: the password must have at least %d characters", MinPasswordLength)
	}
	return nil
}

func enrolment(name, secret string) Enrolment {
	label := url.PathEscape(Issuer + ":" + name)
	q := url.Values{"secret": {secret}, "issuer": {Issuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	return Enrolment{TOTPURI: "otpauth://totp/" + label + "?" + q.Encode(), TOTPSecret: secret}
}

// argon2id parameters (RFC 9106's second recommended option, with 64 MiB).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 4
	argonKeyLen  = 32
	argonSaltLen = 16
)

// HashPassword returns the argon2id hash of password as a PHC string
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("operators: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword checks password against a HashPassword string, in
// constant time.
func VerifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("operators: not an argon2id hash")
	}
	var version int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("operators: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("operators: argon2 parameters: %w", err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("operators: salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, fmt.Errorf("operators: hash: %w", err)
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NewTOTPSecret returns a random 160-bit secret in base32 without padding,
// the form authenticator apps take.
func NewTOTPSecret() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("operators: TOTP secret: %w", err)
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b), nil
}
