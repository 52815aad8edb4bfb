# Base images are pinned by the digest of their multi-arch index (the tag says what the image is,
# the digest decides which one is used); update both together.
#   golang:1.26.8                               sha256:3c3e25a4… (Docker Hub, 2026-09-18)
#   gcr.io/distroless/static-debian12:nonroot   sha256:f5b485ea… (2026-08-03)
# The builder image's Go only starts the build: GOTOOLCHAIN (go.mod's toolchain line) makes the go command
# fetch that toolchain from the Go module proxy, checked against the checksum database like any
# module, and compile with it. Moving to a golang image of that version (tag and digest) makes the
# fetch a no-op.
FROM golang:1.26.8@sha256:3c3e25a4da13fd0478eed2df1eb35a0e667094a7124d3993a6a1d30f71c17e79 AS build
ENV GOTOOLCHAIN=go1.27.3
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY internal/ internal/
COPY patches/ patches/
COPY webhook/ webhook/
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o /out/aigw-mtls-webhook ./cmd/aigw-mtls-webhook

FROM gcr.io/distroless/static-debian12:nonroot@sha256:f5b485ea962d9bd1186b2f6b3a061191539b905b82ec395de78cbfae51f20e35
COPY --from=build /out/aigw-mtls-webhook /aigw-mtls-webhook
USER 65532:65532
ENTRYPOINT ["/aigw-mtls-webhook"]
CMD ["serve"]
