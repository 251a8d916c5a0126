#!/bin/sh
# A Flotilla command handler in shell: the SHA-256 of the object the payload names
# ({"key": "inputs/photo.jpg"}), read from the data bucket with the AWS CLI, which finds the
# endpoint, region and credentials in the AWS_* variables the worker sets.
set -eu
job=$(cat)
key=$(printf '%s' "$job" | jq -r '.payload.key // empty')
if [ -z "$key" ]; then
  echo "payload needs a key" >&2
  exit 65 # do not retry
fi
bucket=$(printf '%s' "$job" | jq -r .bucket)
echo "flotilla:progress 0.1 downloading s3://$bucket/$key" >&2
sum=$(aws s3 cp "s3://$bucket/$key" - | sha256sum | cut -d' ' -f1)
jq -n --arg key "$key" --arg sha256 "$sum" '{key: $key, sha256: $sha256}'
