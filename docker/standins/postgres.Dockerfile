# STAND-IN for postgres:15-bookworm, for machines that cannot pull it (no registry):
# Debian's postgresql-15 behind the part of the official image's contract that
# docker-compose.yml uses: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB on the
# first start, data in /var/lib/postgresql/data (a volume), uid/gid 999, port 5432
# for every address with password (scram-sha-256) auth, pg_isready, SIGINT to stop.
# Built by scripts/container-check.sh as localhost/iss-standin-postgres:15.
FROM debian:bookworm-slim
# No daemons started by package scripts during the build; no cluster made by
# postgresql-common (the entrypoint makes it in the volume).
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
 && groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-common \
 && sed -ri 's/^#?\s*create_main_cluster.*/create_main_cluster = false/' \
      /etc/postgresql-common/createcluster.conf \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R 999:999 /var/lib/postgresql /var/run/postgresql \
 && chmod 0700 /var/lib/postgresql/data && chmod 2775 /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY docker/standins/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
LABEL org.opencontainers.image.description="STAND-IN for postgres:15-bookworm (Debian postgresql-15)"
USER 999:999
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["/bin/bash", "/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
