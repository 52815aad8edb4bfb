# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY patches/ patches/
COPY webhook/ webhook/
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o /out/aigw-mtls-webhook ./cmd/aigw-mtls-webhook

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/aigw-mtls-webhook /aigw-mtls-webhook
USER 65532:65532
ENTRYPOINT ["/aigw-mtls-webhook"]
CMD ["serve"]
