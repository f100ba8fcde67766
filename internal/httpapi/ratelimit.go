package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// tokenLimiters holds one token bucket per API token (by name), so one
// misbehaving client cannot starve the others.
type tokenLimiters struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	byKey map[string]*rate.Limiter
}

func newTokenLimiters(perSecond float64, burst int) *tokenLimiters {
	if perSecond <= 0 {
		return nil // unlimited
	}
	if burst < 1 {
		burst = 1
	}
	return &tokenLimiters{limit: rate.Limit(perSecond), burst: burst, byKey: map[string]*rate.Limiter{}}
}

func (t *tokenLimiters) get(key string) *rate.Limiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.byKey[key]
	if l == nil {
		l = rate.NewLimiter(t.limit, t.burst)
		t.byKey[key] = l
	}
	return l
}

// rateLimit answers 429 with Retry-After when the caller's token is over
// its rate (API_RATE_LIMIT, API_RATE_BURST). It runs after authenticate.
func (s *server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.limiters == nil {
			return next(c)
		}
		name, _ := c.Get(keyTokenName).(string)
		r := s.limiters.get(name).Reserve()
		if !r.OK() {
			return echo.NewHTTPError(http.StatusTooManyRequests)
		}
		if d := r.Delay(); d > 0 {
			r.Cancel()
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
			return echo.NewHTTPError(http.StatusTooManyRequests)
		}
		return next(c)
	}
}
