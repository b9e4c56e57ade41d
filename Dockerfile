# syntax=docker/dockerfile:1
# The kubemesos image: a static kubemesos binary (master and agent) and the
# montecarloarea example (scheduler, executor, compute), running as non-root.
# The binaries are built exactly as `make build` builds them.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/kubemesos/kubemesos/internal/version.Version=${VERSION}" -o /out/kubemesos . \
 && CGO_ENABLED=0 go build -trimpath -o /out/montecarloarea ./examples/montecarloarea

FROM scratch
COPY --from=build /out/kubemesos /out/montecarloarea /usr/local/bin/
ENV PATH=/usr/local/bin
USER 65532:65532
ENTRYPOINT ["kubemesos"]
