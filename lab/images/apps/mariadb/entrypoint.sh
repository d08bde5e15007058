#!/bin/sh
# First start: create the system tables, set the root password, the database and the user.
# Secrets come from the environment or, better, from files (*_FILE); they are never printed.
set -eu
secret() {  # secret NAME -> value of $NAME or of the file named by $NAME_FILE
    file=$(printenv "${1}_FILE" || true)
    if [ -n "$file" ]; then cat "$file"; else printenv "$1" || true; fi
}
sql_string() { printf "'%s'" "$(printf '%s' "$1" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g")"; }

if [ "${1:-}" = "mariadbd" ] && [ ! -d /var/lib/mysql/mysql ]; then
    root_password=$(secret MARIADB_ROOT_PASSWORD)
    if [ -z "$root_password" ]; then
        echo "mariadb-entrypoint: set MARIADB_ROOT_PASSWORD or MARIADB_ROOT_PASSWORD_FILE" >&2
        exit 1
    fi
    echo "mariadb-entrypoint: initialising /var/lib/mysql"
    chown -R mysql:mysql /var/lib/mysql /run/mysqld
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
    mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    i=0
    until mariadb-admin --socket=/run/mysqld/init.sock ping --silent >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 60 ] || { echo "mariadb-entrypoint: server did not start" >&2; exit 1; }
        sleep 1
    done
    {
        # root inside the container keeps socket authentication (health checks, local
        # administration); from the network root needs the password.
        echo "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD($(sql_string "$root_password"));"
        echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY $(sql_string "$root_password");"
        echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
        if [ -n "${MARIADB_DATABASE:-}" ]; then
            echo "CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE}\`;"
        fi
        user_password=$(secret MARIADB_PASSWORD)
        if [ -n "${MARIADB_USER:-}" ] && [ -n "$user_password" ]; then
            echo "CREATE USER IF NOT EXISTS $(sql_string "$MARIADB_USER")@'%' IDENTIFIED BY $(sql_string "$user_password");"
            [ -z "${MARIADB_DATABASE:-}" ] || echo "GRANT ALL ON \`${MARIADB_DATABASE}\`.* TO $(sql_string "$MARIADB_USER")@'%';"
        fi
        echo "FLUSH PRIVILEGES;"
    } | mariadb --socket=/run/mysqld/init.sock -uroot
    kill "$pid"; wait "$pid" || true
    echo "mariadb-entrypoint: initialised"
fi
exec "$@"
