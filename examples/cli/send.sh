#!/usr/bin/env bash
# Notify a user from a shell with the AWS CLI (v1 or v2):
#
#   examples/cli/send.sh 42 '{"type":"seat_taken","tripId":"t-1"}'
#
# Invokes the send function and prints its result, e.g. {"delivered":1,"stale":0,"failed":0}.
# A refused payload exits 1 with Lambda's errorType and message on stderr.
#
# Settings, from the environment, with the local stack's values as defaults:
# - AWS_ENDPOINT_URL: where Lambda is (default http://127.0.0.1:3001, `npm start`). On AWS, use
#   the regional endpoint, e.g. https://lambda.eu-west-1.amazonaws.com. Passed as --endpoint-url
#   because older CLIs (Debian 12's 2.9 among them) ignore AWS_ENDPOINT_URL.
# - AWS_REGION or AWS_DEFAULT_REGION (default us-east-1).
# - SEND_FUNCTION_NAME (default "send"): on AWS, the stack's SendFunctionName output.
# Credentials come from the usual places. The local stack checks no signature, so with no key
# in the environment and no profile, this signs with placeholders.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: send.sh <userId> '<message as a JSON object>'" >&2
  exit 2
fi
user_id=$1
message=$2
# The user id goes in as a JSON string ("42" and 42 are the same user): escape \ and ".
user_id_json=${user_id//\\/\\\\}
user_id_json="\"${user_id_json//\"/\\\"}\""

endpoint=${AWS_ENDPOINT_URL:-http://127.0.0.1:3001}
export AWS_DEFAULT_REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
function_name=${SEND_FUNCTION_NAME:-send}
if [[ -z ${AWS_ACCESS_KEY_ID:-} && -z ${AWS_PROFILE:-} && ! -e ${AWS_SHARED_CREDENTIALS_FILE:-$HOME/.aws/credentials} ]]; then
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
fi

# The function's answer goes to a file of its own: the CLI prints its metadata (StatusCode,
# FunctionError) on stdout, and `/dev/stdout` as the outfile would glue the two together.
# The payload is read from a file with fileb://, which sends its bytes as they are on CLI v1
# and v2 alike (an inline --payload needs --cli-binary-format raw-in-base64-out on v2, an
# option v1 refuses).
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
printf '{"userId":%s,"message":%s}' "$user_id_json" "$message" >"$scratch/payload.json"

function_error=$(aws lambda invoke \
  --endpoint-url "$endpoint" \
  --function-name "$function_name" \
  --payload "fileb://$scratch/payload.json" \
  --query FunctionError --output text \
  "$scratch/out.json")

if [[ $function_error != None ]]; then
  cat "$scratch/out.json" >&2
  echo >&2
  exit 1
fi
cat "$scratch/out.json"
echo
