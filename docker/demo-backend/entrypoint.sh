#!/bin/sh
# Demo backend: make host keys (once per container), let the gateway's
# backend identity key in as user demo, then run sshd in the foreground.
# The key file is written by sshgate's entrypoint (SSHGATE_BACKEND_PUBKEY_FILE)
# into a volume both containers mount.
set -eu

key_file=${BACKEND_AUTHORIZED_KEY_FILE:-/sshgate-public/backend_key.pub}
tries=60

ssh-keygen -A >/dev/null
while [ ! -s "$key_file" ]; do
    tries=$((tries - 1))
    if [ "$tries" -le 0 ]; then
        echo "demo-backend: no gateway key in $key_file; is sshgate running?" >&2
        exit 1
    fi
    sleep 1
done
install -o demo -g demo -m 0600 "$key_file" /home/demo/.ssh/authorized_keys
echo "demo-backend: user demo trusts $(cut -d' ' -f1,3 "$key_file")" >&2
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e
