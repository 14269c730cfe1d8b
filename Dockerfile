# Multi-stage build: a static binary (pure-Go SQLite, no cgo) on a scratch
# image with CA certificates and time zones, run as a non-root user.
# The build stage runs on the builder's own platform and cross-compiles for
# the target's, so a multi-platform build needs no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Empty: the version and VCS revision the toolchain records (docs/release.md).
ARG VERSION=
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/mailbridge ./cmd/mailbridge \
 && mkdir -p /out/data /out/etc/mailbridge \
 && sed -e 's#\./data/#/data/#g' config.yaml > /out/etc/mailbridge/config.yaml

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /usr/share/zoneinfo /usr/share/zoneinfo
COPY --from=build /out/mailbridge /usr/local/bin/mailbridge
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /out/etc/mailbridge /etc/mailbridge
USER 65532:65532
VOLUME /data
# The admin listener (docs/operations.md): /metrics for Prometheus, /healthz
# and /readyz for the orchestrator. The image has no shell or curl, so the
# health check is a subcommand.
ENV MAILBRIDGE_ADMIN_LISTEN=:9090
EXPOSE 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/mailbridge", "health"]
ENTRYPOINT ["/usr/local/bin/mailbridge"]
CMD ["run", "-c", "/etc/mailbridge/config.yaml"]
