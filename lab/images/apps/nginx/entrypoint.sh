#!/bin/sh
set -eu
for template in /etc/nginx/templates/*.conf.template; do
    [ -e "$template" ] || continue
    out="/etc/nginx/conf.d/$(basename "$template" .template)"
    # Only the environment's variables are substituted; nginx's own $variables stay.
    envsubst "$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')" < "$template" > "$out"
done
exec "$@"
