"""Listen for notifications as a user, the way a client of the local stack does.

    /usr/bin/python3 examples/python/listen.py 42            # print every message, until Ctrl-C
    /usr/bin/python3 examples/python/listen.py 42 --count 1  # exit after one notification

Connects to TRIPSYNC_WS_URL (default ws://127.0.0.1:3001, the local stack) with a token minted
by mint_token.py, asks the server who it is (`{"action":"whoami"}`) and prints the answer, then
prints each notification, one JSON document per line.
"""

import argparse
import asyncio
import json
import os

import websockets

from mint_token import make_token

WS_URL = os.environ.get("TRIPSYNC_WS_URL", "ws://127.0.0.1:3001")
# API Gateway closes a connection idle for 10 minutes: ping well within that.
PING_EVERY_SECONDS = 5 * 60


async def keep_alive(ws):
    while True:
        await asyncio.sleep(PING_EVERY_SECONDS)
        await ws.send(json.dumps({"action": "ping"}))


async def listen(user_id, count):
    async with websockets.connect(f"{WS_URL}?token={make_token(user_id)}") as ws:
        await ws.send(json.dumps({"action": "whoami"}))
        print(await ws.recv(), flush=True)  # {"type":"whoami","userId":"42","connectionId":"…"}
        pinger = asyncio.create_task(keep_alive(ws))
        received = 0
        try:
            while count is None or received < count:
                message = json.loads(await ws.recv())
                if message.get("type") == "pong":
                    continue  # the answer to our own ping, not a notification
                print(json.dumps(message), flush=True)
                received += 1
        finally:
            pinger.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("user_id")
    parser.add_argument("--count", type=int, help="exit after this many notifications")
    args = parser.parse_args()
    try:
        asyncio.run(listen(args.user_id, args.count))
    except KeyboardInterrupt:
        pass
