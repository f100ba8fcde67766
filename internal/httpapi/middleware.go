package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ton-custody/processor/internal/apierr"
)

// HeaderRequestID carries the request id in requests (optional) and in
// every response.
const HeaderRequestID = "X-Request-ID"

// requestIDPattern is what an incoming request id must look like to be
// reused; anything else is replaced (it ends up in logs).
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,128}$`)

type ctxKey int

const requestIDKey ctxKey = iota

// echo context keys.
const (
	keyTokenName = "httpapi.token_name"
	keyRequestID = "httpapi.request_id"
)

// RequestID returns the request id of the HTTP request ctx belongs to, or
// "" outside a request. Implementations may log it to correlate with the
// access log.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// requestID reuses a well-formed X-Request-ID or makes one, and puts it in
// the response, the request context and the echo context.
func (s *server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(HeaderRequestID)
		if !requestIDPattern.MatchString(id) {
			var b [16]byte
			_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
			id = hex.EncodeToString(b[:])
		}
		c.Response().Header().Set(HeaderRequestID, id)
		c.Set(keyRequestID, id)
		req := c.Request()
		c.SetRequest(req.WithContext(context.WithValue(req.Context(), requestIDKey, id)))
		return next(c)
	}
}

func requestIDOf(c echo.Context) string {
	id, _ := c.Get(keyRequestID).(string)
	return id
}

// httpMetrics are the API's Prometheus metrics.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// newHTTPMetrics registers the metrics, reusing ones already registered on
// reg (a second API instance on the same registry).
func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "processor_http_requests_total",
		Help: "HTTP API requests by method, route template and status code.",
	}, []string{"method", "route", "status"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "processor_http_request_duration_seconds",
		Help:    "HTTP API request latency by method and route template.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route"})
	var err error
	if requests, err = register(reg, requests); err != nil {
		return nil, err
	}
	if latency, err = register(reg, latency); err != nil {
		return nil, err
	}
	return &httpMetrics{requests: requests, latency: latency}, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register metrics: %w", err)
	}
	return c, nil
}

// knownMethods bounds the method label; anything else is "other".
var knownMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

// observe is the outermost handler after the request id: it renders any
// error (so the status it records is the one sent), then writes the access
// log line and the metrics. It logs no bodies, query strings or tokens:
// the route template, not the path, and the token's name.
func (s *server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		elapsed := time.Since(start)
		status := c.Response().Status
		route := c.Path()
		if !s.routePaths[route] {
			route = "unmatched"
		}
		method := c.Request().Method
		if !slices.Contains(knownMethods, method) {
			method = "other"
		}
		s.metrics.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
		s.metrics.latency.WithLabelValues(method, route).Observe(elapsed.Seconds())

		attrs := []slog.Attr{
			slog.String("method", method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Duration("latency", elapsed),
			slog.String("request_id", requestIDOf(c)),
		}
		if name, ok := c.Get(keyTokenName).(string); ok {
			attrs = append(attrs, slog.String("token", name))
		}
		level := slog.LevelInfo
		if status >= 500 && status != http.StatusNotImplemented { // 501 is a designed answer (a bridge provider lacks the capability)
			level = slog.LevelError
		}
		s.log.LogAttrs(c.Request().Context(), level, "http request", attrs...)
		return nil
	}
}

// recoverPanic turns a panic into an error (a 500 answer), logging the
// stack. http.ErrAbortHandler keeps its meaning: abort the response.
func (s *server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic in HTTP handler", "route", c.Path(), "request_id", requestIDOf(c),
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}()
		return next(c)
	}
}

// errBodyTooLarge marks a request body over MaxBodyBytes (413).
type errBodyTooLarge struct{ limit int64 }

func (e errBodyTooLarge) Error() string {
	return fmt.Sprintf("request body is larger than %d bytes", e.limit)
}

// limitBody refuses bodies over MaxBodyBytes: at once when Content-Length
// says so, otherwise when reading passes the limit.
func (s *server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > s.opts.MaxBodyBytes {
			return errBodyTooLarge{s.opts.MaxBodyBytes}
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, s.opts.MaxBodyBytes)
		return next(c)
	}
}

// timeout bounds the request's context by RequestTimeout.
func (s *server) timeout(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.opts.RequestTimeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// errUnauthorized is a 401 answer.
type errUnauthorized struct{ msg string }

func (e errUnauthorized) Error() string { return e.msg }

// authenticate requires "Authorization: Bearer <token>" with one of the
// configured tokens. Tokens are compared as SHA-256 digests in constant
// time against every configured token, so neither the match position nor
// the length leaks through timing. The matching token's name (never the
// token) goes into the access log.
func (s *server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		if h == "" {
			return s.unauthorized(c, "missing", "missing Authorization header: send Authorization: Bearer <token>")
		}
		scheme, token, _ := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			return s.unauthorized(c, "malformed", `malformed Authorization header: expected "Bearer <token>"`)
		}
		sum := sha256.Sum256([]byte(token))
		match := -1
		for i := range s.tokens {
			if subtle.ConstantTimeCompare(sum[:], s.tokens[i].sum[:]) == 1 {
				match = i
			}
		}
		if match < 0 {
			return s.unauthorized(c, "unknown token", "invalid API token")
		}
		c.Set(keyTokenName, s.tokens[match].name)
		return next(c)
	}
}

func (s *server) unauthorized(c echo.Context, reason, msg string) error {
	s.log.Warn("API authentication failed", "reason", reason, "route", c.Path(),
		"request_id", requestIDOf(c), "remote", c.Request().RemoteAddr)
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="processor"`)
	return errUnauthorized{msg}
}

// checkQuery refuses query parameters the route does not take (a typo such
// as userid= would otherwise be silently ignored), unless ignoreUnknown
// (the bicycle profile: bicycle ignores them, e.g. a cache-buster _=), and
// repeated ones it takes (which one would count is ambiguous).
func checkQuery(allowed []string, ignoreUnknown bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			q, err := url.ParseQuery(c.Request().URL.RawQuery)
			if err != nil {
				return apierr.BadRequest("malformed query string: %v", err)
			}
			for k, v := range q {
				if !slices.Contains(allowed, k) {
					if ignoreUnknown {
						continue
					}
					if len(allowed) == 0 {
						return apierr.BadRequest("unknown query parameter %q: this endpoint takes none", k)
					}
					return apierr.BadRequest("unknown query parameter %q (accepted: %s)", k, strings.Join(allowed, ", "))
				}
				if len(v) > 1 {
					return apierr.BadRequest("query parameter %q is given %d times; give it once", k, len(v))
				}
			}
			return next(c)
		}
	}
}
