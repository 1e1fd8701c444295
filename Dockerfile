# syntax=docker/dockerfile:1
#
# cdewatch container image (docs/DEPLOY.md, "Container image").
#
# cdewatch embeds DuckDB, which is C++: the binary is built with cgo and
# links glibc and libstdc++ dynamically. The run stage is distroless "cc"
# (glibc, libgcc, libstdc++, CA certificates, tzdata; no shell, no package
# manager) as its nonroot user (65532). Builder and run stage must be the
# same Debian release (here 12, bookworm) so the libstdc++ the binary was
# linked against is the one it finds. Pin both by digest in production.
#
#   docker build --build-arg VERSION=$(git describe --tags) -t registry.example.com/cdewatch/cdewatch:0.1.0 .

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first: this layer is reused while go.mod and go.sum stay the same.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/cdewatch ./cmd/cdewatch \
 && /out/cdewatch version \
 && mkdir -p /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/cdewatch /usr/local/bin/cdewatch
# The data directory, owned by the nonroot user (a volume in Kubernetes).
COPY --from=build --chown=65532:65532 /out/data /var/lib/cdewatch
USER 65532:65532
# 8470: API and ingest (HTTPS once tls is configured); 6514: syslog over TLS, when configured.
EXPOSE 8470
VOLUME ["/var/lib/cdewatch"]
ENTRYPOINT ["/usr/local/bin/cdewatch"]
# The configuration is mounted (a ConfigMap in Kubernetes); without it the
# server refuses to start rather than run with loopback-only defaults.
CMD ["serve", "--config", "/etc/cdewatch/config/cdewatch.yaml"]
