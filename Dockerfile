# Builds both programs: `processor` and `tonsim` (the local TON network).
# The TON emulator assets are fetched with npm at build time into
# /opt/tonsim-assets; nothing from npm is in the repository.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends npm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV TONSIM_ASSETS_DIR=/opt/tonsim-assets
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/... \
 && go run ./cmd/tonsim -fetch

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/processor processor
COPY --from=build /out/ /usr/local/bin/
COPY --from=build /opt/tonsim-assets /opt/tonsim-assets
ENV TONSIM_ASSETS_DIR=/opt/tonsim-assets
USER processor
ENTRYPOINT ["/usr/local/bin/processor"]
CMD ["serve"]
