package store

// MigrateFS exposes the migration runner with an arbitrary file set to the
// external tests, which cannot live in this package because they use
// storetest (which imports store).
var MigrateFS = migrate
