# syntax=docker/dockerfile:1
# smrt-chatd in a container: a Swift builder, then Debian slim with the Swift runtime linked in statically.
#   docker build -t smrt-chatd .
#   docker run -d -p 7450:7450 -p 7451:7451 -p 9450:9450 -v smrtchat:/var/lib/smrt-chatd smrt-chatd
#   docker run --rm -v smrtchat:/var/lib/smrt-chatd smrt-chatd keys create --db /var/lib/smrt-chatd/chat.sqlite \
#     --tenant tenant-1 --scope chat
# (Not built on the project's own machines, which have no Docker engine; the same steps run in `make install`.)

FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libnanomsg-dev libsqlite3-dev libprotobuf-c-dev libssl-dev pkg-config make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN swift build -c release --static-swift-stdlib --product smrt-chatd \
 && swift build -c release --static-swift-stdlib --product smrt-chat \
 && make -C clients/c install PREFIX=/usr/local DESTDIR=/staging

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libnanomsg5 libsqlite3-0 libprotobuf-c1 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/smrt-chatd --shell /usr/sbin/nologin smrt-chatd \
 && install -d -o smrt-chatd -m 0700 /var/lib/smrt-chatd
COPY --from=build /src/.build/release/smrt-chatd /src/.build/release/smrt-chat /usr/local/bin/
COPY --from=build /staging/usr/local/ /usr/local/
USER smrt-chatd
VOLUME /var/lib/smrt-chatd
EXPOSE 7450 7451 9450
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/smrt-chatd"]
CMD ["serve", "--db", "/var/lib/smrt-chatd/chat.sqlite", "--rpc", "tcp://0.0.0.0:7450", "--events", "tcp://0.0.0.0:7451", \
     "--metrics", "0.0.0.0:9450", "--log-format", "json"]
