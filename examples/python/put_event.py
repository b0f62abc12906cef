"""Notify users by putting an EventBridge event with boto3, for services that already publish
their events to a bus: a "TripSync Notification" event whose detail is a send payload. The
construct's rule (prop notificationRule) delivers the detail into the notification queue; from
there on it is the queue's path: retries, dead-letter queue.

    /usr/bin/python3 examples/python/put_event.py 42 '{"type": "seat_taken", "tripId": "t-1"}'
    /usr/bin/python3 examples/python/put_event.py 42,7 '{"type": "pool_filled"}'    # several users

Prints the event id. EventBridge answers 200 even when it refuses an entry, so the entry's error
is checked here.

Settings, from the environment, with the local stack's values as defaults:
- AWS_ENDPOINT_URL: where EventBridge is (default http://127.0.0.1:3001, `npm start`). On AWS,
  set it to https://events.{region}.amazonaws.com (older boto3 releases ignore AWS_ENDPOINT_URL,
  so it is read here).
- AWS_REGION or AWS_DEFAULT_REGION (default us-east-1).
- EVENT_BUS_NAME (default "default"): the bus the rule listens on (prop eventBus).
- EVENT_SOURCE (default "com.tripsync.examples"): who puts the event; any source matches.
On AWS the caller needs events:PutEvents on the bus.
"""

import json
import os
import sys

import boto3

ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:3001")
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
EVENT_BUS_NAME = os.environ.get("EVENT_BUS_NAME", "default")
EVENT_SOURCE = os.environ.get("EVENT_SOURCE", "com.tripsync.examples")
NOTIFICATION_DETAIL_TYPE = "TripSync Notification"


def events_client():
    session = boto3.session.Session(region_name=REGION)
    if session.get_credentials() is None:
        session = boto3.session.Session(
            region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local"
        )
    return session.client("events", endpoint_url=ENDPOINT_URL)


events = events_client()


class EventRefused(RuntimeError):
    """EventBridge refused the entry (ErrorCode and ErrorMessage in the message)."""


def put_notification(payload):
    """Puts one TripSync Notification event whose detail is the send payload; returns its id."""
    result = events.put_events(
        Entries=[
            {
                "EventBusName": EVENT_BUS_NAME,
                "Source": EVENT_SOURCE,
                "DetailType": NOTIFICATION_DETAIL_TYPE,
                "Detail": json.dumps(payload),
            }
        ]
    )
    entry = result["Entries"][0]
    if result.get("FailedEntryCount", 0) > 0 or "EventId" not in entry:
        raise EventRefused(f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
    return entry["EventId"]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: put_event.py <userId>[,<userId>...] '<message as a JSON object>'")
    users = sys.argv[1].split(",")
    try:
        message = json.loads(sys.argv[2])
    except json.JSONDecodeError as error:
        sys.exit(f"message: not JSON ({error})")
    payload = (
        {"userId": users[0], "message": message}
        if len(users) == 1
        else {"userIds": users, "message": message}
    )
    try:
        print(json.dumps({"eventId": put_notification(payload)}))
    except EventRefused as error:
        sys.exit(str(error))
