# The controller image: `make image` (IMG=... to name it). Two stages: a Go
# toolchain builds a static binary, and only that binary ships, on a
# distroless base without a shell or package manager, as a non-root user.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, in their own layer: it is rebuilt only when go.mod or go.sum
# change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: a static binary that needs no libc in the final image.
# -trimpath: no build-machine paths in the binary; -s -w: no symbol table or
# DWARF, a smaller image (stack traces still name functions).
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/network-controller .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/network-controller /network-controller
# Numeric, so that Kubernetes can verify runAsNonRoot without a passwd lookup;
# matches runAsUser/runAsGroup in artifacts/deploy/deployment.yaml.
USER 65532:65532
ENTRYPOINT ["/network-controller"]
