# STAND-IN for prom/prometheus:v2.48.1, for machines that cannot pull it (no
# registry): Debian's prometheus package (2.42), run the way the official image
# runs it: entrypoint prometheus, working directory /prometheus (its data; a
# volume), config in /etc/prometheus, user nobody (65534), wget for the
# compose health check. Debian's build stores in /var/lib/prometheus/metrics2 by
# default, the official one in data/ (= /prometheus/data): the former points at the latter. Built by scripts/container-check.sh as
# localhost/iss-standin-prometheus:2.
FROM debian:bookworm-slim
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && apt-get install -y --no-install-recommends prometheus wget ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus/data /etc/prometheus \
 && chown -R 65534:65534 /prometheus \
 && rm -rf /var/lib/prometheus/metrics2 \
 && ln -s /prometheus/data /var/lib/prometheus/metrics2
LABEL org.opencontainers.image.description="STAND-IN for prom/prometheus (Debian prometheus)"
USER 65534:65534
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
