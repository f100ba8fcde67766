package blockscanner

// SetCrashHook lets tests inject crashes at named points of a batch.
func SetCrashHook(s *Scanner, f func(point string) error) { s.crash = f }
