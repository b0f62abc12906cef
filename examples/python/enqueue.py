"""Notify users through the notification queue (SQS) with boto3: the durable path. SQS keeps
the message until it is delivered, retries what fails, and keeps what never can on a dead-letter
queue.

    /usr/bin/python3 examples/python/enqueue.py 42 '{"type": "seat_taken", "tripId": "t-1"}'
    /usr/bin/python3 examples/python/enqueue.py 42,7 '{"type": "pool_filled"}'       # several users
    /usr/bin/python3 examples/python/enqueue.py 42 '{"type": "a"}' 7 '{"type": "b"}'  # a batch

One pair of users and message is one send_message; several pairs are one send_message_batch (up
to 10). Prints each message id: SQS has accepted it, delivery follows within moments. The queue
does not answer with delivery counts; a payload that can never be delivered lands on the
dead-letter queue with the reason (docs/operating.md).

Settings, from the environment, with the local stack's values as defaults:
- AWS_ENDPOINT_URL: where SQS is (default http://127.0.0.1:3001, `npm start`). On AWS, set it to
  https://sqs.{region}.amazonaws.com. Read here because older boto3 releases (Debian 12's 1.26
  among them) ignore AWS_ENDPOINT_URL.
- AWS_REGION or AWS_DEFAULT_REGION (default us-east-1).
- NOTIFICATION_QUEUE_URL: the queue, on AWS the stack's NotificationQueueUrl output. When unset,
  the queue is looked up by name: NOTIFICATION_QUEUE_NAME (default "notifications", the local one).
Credentials come from the usual places; with none configured this signs with placeholders, which
the local stack accepts.
"""

import json
import os
import sys

import boto3

ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:3001")
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def sqs_client():
    session = boto3.session.Session(region_name=REGION)
    if session.get_credentials() is None:
        session = boto3.session.Session(
            region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local"
        )
    return session.client("sqs", endpoint_url=ENDPOINT_URL)


sqs = sqs_client()


def queue_url():
    url = os.environ.get("NOTIFICATION_QUEUE_URL")
    if url:
        return url
    name = os.environ.get("NOTIFICATION_QUEUE_NAME", "notifications")
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


class EnqueueError(RuntimeError):
    """SQS refused one or more messages of a batch."""


def enqueue(payloads):
    """Queues send payloads: one send_message, or one send_message_batch for several (<= 10)."""
    url = queue_url()
    if len(payloads) == 1:
        return [sqs.send_message(QueueUrl=url, MessageBody=json.dumps(payloads[0]))["MessageId"]]
    result = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": f"n{index}", "MessageBody": json.dumps(payload)}
            for index, payload in enumerate(payloads)
        ],
    )
    failed = result.get("Failed", [])
    if failed:
        raise EnqueueError("; ".join(f"entry {f['Id']}: {f['Code']}: {f['Message']}" for f in failed))
    return [entry["MessageId"] for entry in result["Successful"]]


def notify_later(message, user_id):
    """send_personal_message, through the queue: returns once SQS holds the message."""
    return enqueue([{"userId": user_id, "message": message}])[0]


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or len(args) % 2 != 0:
        sys.exit("usage: enqueue.py <userId>[,<userId>...] '<message as a JSON object>' [...]")
    payloads = []
    for users, text in zip(args[::2], args[1::2]):
        try:
            message = json.loads(text)
        except json.JSONDecodeError as error:
            sys.exit(f"message: not JSON ({error})")
        ids = users.split(",")
        payloads.append(
            {"userId": ids[0], "message": message}
            if len(ids) == 1
            else {"userIds": ids, "message": message}
        )
    try:
        print(json.dumps({"queued": enqueue(payloads)}))
    except EnqueueError as error:
        sys.exit(str(error))
