// Package migrations embeds the SQL migrations so the binary carries its
// schema. Files are named NNNN_name.sql and applied in order by
// store.Migrate; an applied file must never change (its checksum is
// recorded), so fix mistakes with a new migration.
package migrations

import "embed"

// FS holds every *.sql migration at the root of the FS.
//
//go:embed *.sql
var FS embed.FS
