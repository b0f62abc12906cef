"""Ask who is online with boto3, e.g. to choose between a push notification and an SMS, or to
show "driver online" in a pool.

    /usr/bin/python3 examples/python/presence.py 42,7
    # {"online": {"42": 2, "7": 0}}

Invokes the presence function with up to 1,000 user ids and prints, for each, how many live
connections the user has right now (read strongly consistent: a connection whose handshake has
completed is counted; rows past their lifetime are not). A bad payload exits 1 with Lambda's
errorType (ValidationError) and a message naming the field.

Settings, from the environment, with the local stack's values as defaults:
- AWS_ENDPOINT_URL: where Lambda is (default http://127.0.0.1:3001, `npm start`). On AWS, set it
  to https://lambda.{region}.amazonaws.com (older boto3 releases ignore AWS_ENDPOINT_URL).
- AWS_REGION or AWS_DEFAULT_REGION (default us-east-1).
- PRESENCE_FUNCTION_NAME (default "presence"): on AWS, the stack's PresenceFunctionName output.
On AWS the caller needs lambda:InvokeFunction on it (realtime.grantPresence).
"""

import json
import os
import sys

import boto3

ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:3001")
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
PRESENCE_FUNCTION_NAME = os.environ.get("PRESENCE_FUNCTION_NAME", "presence")


def lambda_client():
    session = boto3.session.Session(region_name=REGION)
    if session.get_credentials() is None:
        session = boto3.session.Session(
            region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local"
        )
    return session.client("lambda", endpoint_url=ENDPOINT_URL)


lam = lambda_client()


class PresenceError(RuntimeError):
    """The presence function refused the ids (ValidationError) or could not read its table."""


def online(user_ids):
    """{"42": 2, "7": 0}: live connections per user id (ids as strings)."""
    response = lam.invoke(
        FunctionName=PRESENCE_FUNCTION_NAME, Payload=json.dumps({"userIds": user_ids})
    )
    body = json.loads(response["Payload"].read())
    if "FunctionError" in response:
        raise PresenceError(f"{body.get('errorType')}: {body.get('errorMessage')}")
    return body["online"]


def push_or_sms(user_id):
    """What the FastAPI backend decides: a WebSocket push when the user has a live connection."""
    return "push" if online([user_id]).get(str(user_id), 0) > 0 else "sms"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: presence.py <userId>[,<userId>...]")
    try:
        print(json.dumps({"online": online(sys.argv[1].split(","))}))
    except PresenceError as error:
        sys.exit(str(error))
