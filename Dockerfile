# podium: release build, then a small non-root runtime image.
#   docker build -t podium .
#   docker run -p 8080:8080 -v podium-data:/var/lib/podium podium
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p podium-api --bin podium \
 && cp target/release/podium /usr/local/bin/podium

FROM debian:bookworm-slim
# curl: the health check; postgresql-client: `podium backup` / `restore` on PostgreSQL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/podium --create-home podium
COPY --from=build /usr/local/bin/podium /usr/local/bin/podium
USER podium
WORKDIR /var/lib/podium
ENV PODIUM_BIND=0.0.0.0:8080 \
    PODIUM_METRICS_BIND=0.0.0.0:9100 \
    PODIUM_DATA_DIR=/var/lib/podium \
    PODIUM_LOG_FORMAT=json
VOLUME ["/var/lib/podium"]
EXPOSE 8080 9100
# Liveness: the process answers (readiness, /readyz, is the orchestrator's business).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
# SIGTERM: stop accepting, close WebSockets with 1001, finish requests (up to 30 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["podium"]
CMD ["serve"]
