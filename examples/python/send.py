"""Notify users from Python with boto3, as the FastAPI backend does.

    /usr/bin/python3 examples/python/send.py 42 '{"type": "seat_taken", "tripId": "t-1"}'
    /usr/bin/python3 examples/python/send.py 42,7 '{"type": "pool_filled"}'   # several users

Invokes the send function and prints its result, e.g. {"delivered": 1, "stale": 0, "failed": 0}.
A refused payload exits 1 with Lambda's errorType and message.

Settings, from the environment, with the local stack's values as defaults:
- AWS_ENDPOINT_URL: where Lambda is (default http://127.0.0.1:3001, `npm start`). On AWS, use
  the regional endpoint, e.g. https://lambda.eu-west-1.amazonaws.com. Read here because older
  boto3 releases (Debian 12's 1.26 among them) ignore AWS_ENDPOINT_URL.
- AWS_REGION or AWS_DEFAULT_REGION (default us-east-1).
- SEND_FUNCTION_NAME (default "send"): on AWS, the stack's SendFunctionName output.
Credentials come from the usual places (environment, profile, role). The local stack checks no
signature, so with none configured this signs with placeholders.
"""

import json
import os
import sys

import boto3

ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:3001")
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
SEND_FUNCTION_NAME = os.environ.get("SEND_FUNCTION_NAME", "send")


class SendError(RuntimeError):
    """The send function refused the payload (ValidationError) or could not read its table
    (StoreUnavailableError: nothing was sent, so invoking again is safe)."""

    def __init__(self, error_type, message):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type


def lambda_client():
    session = boto3.session.Session(region_name=REGION)
    if session.get_credentials() is None:
        session = boto3.session.Session(
            region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local"
        )
    return session.client("lambda", endpoint_url=ENDPOINT_URL)


lam = lambda_client()


def invoke_send(payload):
    response = lam.invoke(FunctionName=SEND_FUNCTION_NAME, Payload=json.dumps(payload))
    body = json.loads(response["Payload"].read())
    if "FunctionError" in response:
        raise SendError(body.get("errorType"), body.get("errorMessage"))
    return body


def send_personal_message(message, user_id):
    """What ConnectionManager.send_personal_message did, for every connection of the user."""
    return invoke_send({"userId": user_id, "message": message})


def notify_users(message, user_ids):
    """One invocation for many users (at most 1,000), with a per-user breakdown under "users"."""
    return invoke_send({"userIds": user_ids, "message": message})


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: send.py <userId>[,<userId>...] '<message as a JSON object>'")
    users = sys.argv[1].split(",")
    try:
        message = json.loads(sys.argv[2])
    except json.JSONDecodeError as error:
        sys.exit(f"message: not JSON ({error})")
    try:
        if len(users) == 1:
            result = send_personal_message(message, users[0])
        else:
            result = notify_users(message, users)
    except SendError as error:
        sys.exit(str(error))
    print(json.dumps(result))
