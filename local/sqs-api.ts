import type { IncomingMessage, ServerResponse } from 'node:http';
import { QUEUE } from '../lambdas/shared/limits';
import { readBody } from './http';
import { lambdaRequestId } from './ids';
import type { StackLog } from './log';
import {
  type LocalQueue,
  type LocalQueues,
  type MessageAttribute,
  type QueueMessage,
  systemAttributes,
} from './sqs-queue';

/**
 * SQS's API on the local stack's origin, in both of its wire protocols, so that clients work
 * unchanged but for the endpoint:
 * - JSON (AWS SDKs since late 2023): `POST /`, `Content-Type: application/x-amz-json-1.0`,
 *   `X-Amz-Target: AmazonSQS.SendMessage`; errors as `__type` plus the `x-amzn-query-error`
 *   header the SDKs read the query-era code from;
 * - query (older SDKs, Debian's boto3 1.26, the AWS CLI v1): form-encoded
 *   `Action=SendMessage&QueueUrl=…&MessageBody=…` to `/` or to the queue's URL, answered in XML.
 *
 * Served: `GetQueueUrl`, `SendMessage`, `SendMessageBatch`, and, to read the dead-letter queue as
 * an operator would, `ReceiveMessage`, `DeleteMessage` and `GetQueueAttributes`. Anything else
 * answers `UnsupportedOperation`. Signatures are not checked.
 */

/** Which SQS wire protocol a request speaks, or undefined when it is not an SQS request. */
export type SqsProtocol = 'json' | 'query';

/**
 * Recognises an SQS request without reading its body.
 *
 * @example
 * sqsProtocolOf(req, url); // 'json' for X-Amz-Target: AmazonSQS.SendMessage
 */
export function sqsProtocolOf(
  req: IncomingMessage,
  url: URL,
  queues: LocalQueues,
): SqsProtocol | undefined {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target.startsWith('AmazonSQS.') ? 'json' : undefined;
  const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
  const atQueueOrRoot = url.pathname === '/' || queues.atPath(url.pathname) !== undefined;
  if (req.method === 'POST' && form && atQueueOrRoot) return 'query';
  if (req.method === 'GET' && url.searchParams.has('Action') && atQueueOrRoot) return 'query';
  return undefined;
}

/** What the SQS API serves. */
export interface SqsApiDeps {
  queues: LocalQueues;
  log: StackLog;
}

/** An SQS error: its JSON name, its query-era code, and who is at fault. */
class SqsError extends Error {
  constructor(
    readonly code: keyof typeof QUERY_CODES,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** The query protocol's code of each error (also sent in `x-amzn-query-error`). */
const QUERY_CODES = {
  QueueDoesNotExist: 'AWS.SimpleQueueService.NonExistentQueue',
  InvalidParameterValue: 'InvalidParameterValue',
  MissingParameter: 'MissingParameter',
  InvalidMessageContents: 'InvalidMessageContents',
  EmptyBatchRequest: 'AWS.SimpleQueueService.EmptyBatchRequest',
  TooManyEntriesInBatchRequest: 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
  BatchEntryIdsNotDistinct: 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
  BatchRequestTooLong: 'AWS.SimpleQueueService.BatchRequestTooLong',
  InvalidBatchEntryId: 'AWS.SimpleQueueService.InvalidBatchEntryId',
  ReceiptHandleIsInvalid: 'ReceiptHandleIsInvalid',
  InvalidAttributeName: 'InvalidAttributeName',
  UnsupportedOperation: 'AWS.SimpleQueueService.UnsupportedOperation',
  InvalidAction: 'InvalidAction',
  SerializationException: 'SerializationException',
} as const;

type Input = Record<string, unknown>;
type Result = Record<string, unknown>;

/** The largest request body read; SQS refuses a message over 256 KiB long before this. */
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;

/**
 * Serves one SQS request in the protocol it came in.
 *
 * @example
 * const protocol = sqsProtocolOf(req, url, queues);
 * if (protocol) return handleSqsRequest(req, res, url, protocol, { queues, log });
 */
export async function handleSqsRequest(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  protocol: SqsProtocol,
  deps: SqsApiDeps,
): Promise<void> {
  const requestId = lambdaRequestId();
  let action = '';
  try {
    const { body, tooLarge } = await readBody(req, MAX_REQUEST_BYTES);
    if (tooLarge) throw new SqsError('BatchRequestTooLong', 'The request is too large.', 413);
    let input: Input;
    if (protocol === 'json') {
      action = String(req.headers['x-amz-target']).slice('AmazonSQS.'.length);
      input = parseJsonInput(body);
    } else {
      const params = new URLSearchParams(body.toString('utf8'));
      for (const [key, value] of url.searchParams) if (!params.has(key)) params.set(key, value);
      action = params.get('Action') ?? '';
      input = queryInput(params);
      // The query protocol may address the queue by posting to its URL.
      if (input.QueueUrl === undefined && url.pathname !== '/') {
        input.QueueUrl = `http://local${url.pathname}`;
      }
    }
    const operation = OPERATIONS[action];
    if (!operation) {
      throw action === ''
        ? new SqsError('InvalidAction', 'The request has no Action.')
        : new SqsError('UnsupportedOperation', `The local stack does not serve SQS ${action}.`);
    }
    const result = await operation(input, deps);
    if (protocol === 'json') {
      return respond(res, 200, 'application/x-amz-json-1.0', JSON.stringify(result), requestId);
    }
    return respond(res, 200, 'text/xml', queryResponse(action, result, requestId), requestId);
  } catch (error) {
    if (!(error instanceof SqsError)) throw error;
    const code = QUERY_CODES[error.code];
    if (protocol === 'json') {
      res.setHeader('x-amzn-query-error', `${code};Sender`);
      return respond(
        res,
        error.status,
        'application/x-amz-json-1.0',
        JSON.stringify({ __type: `com.amazonaws.sqs#${error.code}`, message: error.message }),
        requestId,
      );
    }
    return respond(
      res,
      error.status,
      'text/xml',
      `<?xml version="1.0"?><ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type>` +
        `<Code>${code}</Code><Message>${xml(error.message)}</Message><Detail/></Error>` +
        `<RequestId>${requestId}</RequestId></ErrorResponse>`,
      requestId,
    );
  }
}

function respond(
  res: ServerResponse,
  status: number,
  contentType: string,
  text: string,
  requestId: string,
): void {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(text),
    'x-amzn-RequestId': requestId,
  });
  res.end(text);
}

function parseJsonInput(body: Buffer): Input {
  if (body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      return parsed as Input;
    }
  } catch {
    // answered below
  }
  throw new SqsError('SerializationException', 'The request body is not a JSON object.');
}

// ---------------------------------------------------------------------------------------------
// The query protocol's flattened parameters, turned into the JSON protocol's input shape.

/**
 * `MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=String&…` and
 * `SendMessageBatchRequestEntry.1.Id=…` become `MessageAttributes` and `Entries`, as the JSON
 * protocol names them, so that one implementation serves both.
 *
 * @example
 * queryInput(new URLSearchParams('Action=SendMessage&MessageBody=hi&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=x'));
 * // { Action: 'SendMessage', MessageBody: 'hi', MessageAttributes: { a: { DataType: 'String', StringValue: 'x' } } }
 */
export function queryInput(params: URLSearchParams): Input {
  const tree: Record<string, unknown> = {};
  for (const [key, value] of params) {
    const path = key.split('.');
    let node = tree;
    path.forEach((part, index) => {
      if (index === path.length - 1) node[part] = value;
      else {
        const next = node[part];
        node[part] = typeof next === 'object' && next !== null ? next : {};
        node = node[part] as Record<string, unknown>;
      }
    });
  }
  const input: Input = {};
  for (const [key, value] of Object.entries(tree)) {
    if (key === 'MessageAttribute') input.MessageAttributes = attributeMap(value);
    else if (key === 'SendMessageBatchRequestEntry') {
      input.Entries = listOf(value).map((entry) => {
        const { MessageAttribute, ...rest } = entry as Record<string, unknown>;
        return MessageAttribute === undefined
          ? rest
          : { ...rest, MessageAttributes: attributeMap(MessageAttribute) };
      });
    } else if (key === 'AttributeName') input.AttributeNames = listOf(value);
    else if (key === 'MessageAttributeName') input.MessageAttributeNames = listOf(value);
    else if (key === 'MessageSystemAttributeName') {
      input.MessageSystemAttributeNames = listOf(value);
    } else input[key] = value;
  }
  return input;
}

/** `{ '2': b, '1': a }` → `[a, b]`: members numbered from 1. */
function listOf(node: unknown): unknown[] {
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node)
    .filter(([index]) => /^\d+$/.test(index))
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([, value]) => value);
}

function attributeMap(node: unknown): Record<string, unknown> {
  const map: Record<string, unknown> = {};
  for (const member of listOf(node)) {
    const { Name, Value } = member as { Name?: unknown; Value?: unknown };
    if (typeof Name === 'string') map[Name] = Value ?? {};
  }
  return map;
}

// ---------------------------------------------------------------------------------------------
// The operations, on JSON-shaped input.

type Operation = (input: Input, deps: SqsApiDeps) => Result | Promise<Result>;

const OPERATIONS: Record<string, Operation> = {
  GetQueueUrl(input, { queues }) {
    const name = requiredString(input, 'QueueName');
    const queue = queues.named(name);
    if (!queue) throw noSuchQueue();
    return { QueueUrl: queue.url };
  },

  SendMessage(input, deps) {
    const queue = queueOf(input, deps.queues);
    rejectFifoParameters(input);
    const message = checkedMessage(
      queue,
      requiredString(input, 'MessageBody'),
      attributesOf(input.MessageAttributes),
    );
    const sent = queue.send({
      ...message,
      delaySeconds: integerParameter(input, 'DelaySeconds', 0, 900, 0),
    });
    deps.log.line('queue', `${queue.name} ← ${describeMessage(sent)}`);
    return sendResult(sent);
  },

  SendMessageBatch(input, deps) {
    const queue = queueOf(input, deps.queues);
    const entries = Array.isArray(input.Entries) ? (input.Entries as Input[]) : [];
    if (entries.length === 0) {
      throw new SqsError(
        'EmptyBatchRequest',
        'There should be at least one SendMessageBatchRequestEntry in the request.',
      );
    }
    if (entries.length > QUEUE.maxBatchEntries) {
      throw new SqsError(
        'TooManyEntriesInBatchRequest',
        `Maximum number of entries per request are ${QUEUE.maxBatchEntries}. You have sent ${entries.length}.`,
      );
    }
    const ids = entries.map((entry) => entry.Id);
    for (const id of ids) {
      if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,80}$/.test(id)) {
        throw new SqsError(
          'InvalidBatchEntryId',
          'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
        );
      }
    }
    if (new Set(ids).size !== ids.length) {
      throw new SqsError(
        'BatchEntryIdsNotDistinct',
        'Two or more batch entries in the request have the same Id.',
      );
    }
    const total = entries.reduce(
      (sum, entry) => sum + Buffer.byteLength(String(entry.MessageBody ?? ''), 'utf8'),
      0,
    );
    if (total > queue.maxMessageBytes) {
      throw new SqsError(
        'BatchRequestTooLong',
        `Batch requests cannot be longer than ${queue.maxMessageBytes} bytes. You have sent ${total} bytes.`,
      );
    }
    const Successful: Result[] = [];
    const Failed: Result[] = [];
    for (const entry of entries) {
      try {
        rejectFifoParameters(entry);
        const message = checkedMessage(
          queue,
          requiredString(entry, 'MessageBody'),
          attributesOf(entry.MessageAttributes),
        );
        const sent = queue.send({
          ...message,
          delaySeconds: integerParameter(entry, 'DelaySeconds', 0, 900, 0),
        });
        deps.log.line('queue', `${queue.name} ← ${describeMessage(sent)} (batch)`);
        Successful.push({ Id: entry.Id, ...sendResult(sent) });
      } catch (error) {
        if (!(error instanceof SqsError)) throw error;
        Failed.push({
          Id: entry.Id,
          SenderFault: true,
          Code: QUERY_CODES[error.code],
          Message: error.message,
        });
      }
    }
    return { Successful, Failed };
  },

  async ReceiveMessage(input, { queues }) {
    const queue = queueOf(input, queues);
    const max = integerParameter(input, 'MaxNumberOfMessages', 1, 10, 1);
    const waitSeconds = integerParameter(input, 'WaitTimeSeconds', 0, QUEUE.maxWaitTimeSeconds, 0);
    const visibility = integerParameter(
      input,
      'VisibilityTimeout',
      0,
      QUEUE.maxVisibilityTimeoutSeconds,
      queue.visibilityTimeoutMs / 1000,
    );
    const messages = await queue.receive({
      max,
      waitMs: waitSeconds * 1000,
      visibilityTimeoutMs: visibility * 1000,
    });
    const systemNames = [
      ...stringList(input.AttributeNames),
      ...stringList(input.MessageSystemAttributeNames),
    ];
    const attributeNames = stringList(input.MessageAttributeNames);
    if (messages.length === 0) return {};
    return {
      Messages: messages.map((message) => receivedMessage(message, systemNames, attributeNames)),
    };
  },

  DeleteMessage(input, { queues }) {
    const queue = queueOf(input, queues);
    const handle = requiredString(input, 'ReceiptHandle');
    if (!queue.delete(handle)) {
      throw new SqsError(
        'ReceiptHandleIsInvalid',
        `The input receipt handle "${handle.slice(0, 80)}" is not a valid receipt handle.`,
      );
    }
    return {};
  },

  GetQueueAttributes(input, { queues }) {
    const queue = queueOf(input, queues);
    const all = queueAttributes(queue);
    const names = stringList(input.AttributeNames);
    const wanted = names.length === 0 || names.includes('All') ? Object.keys(all) : names;
    const Attributes: Record<string, string> = {};
    for (const name of wanted) {
      const value = all[name];
      if (value === undefined) {
        throw new SqsError('InvalidAttributeName', `Unknown Attribute ${name}.`);
      }
      Attributes[name] = value;
    }
    return { Attributes };
  },
};

function queueAttributes(queue: LocalQueue): Record<string, string> {
  const counts = queue.counts();
  return {
    QueueArn: queue.arn,
    ApproximateNumberOfMessages: String(counts.visible),
    ApproximateNumberOfMessagesNotVisible: String(counts.inFlight),
    ApproximateNumberOfMessagesDelayed: String(counts.delayed),
    VisibilityTimeout: String(queue.visibilityTimeoutMs / 1000),
    MaximumMessageSize: String(queue.maxMessageBytes),
    MessageRetentionPeriod: String(Math.round(queue.retentionMs / 1000)),
    SqsManagedSseEnabled: 'true',
    ...(queue.redrive && {
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: queue.redrive.deadLetterQueue.arn,
        maxReceiveCount: queue.redrive.maxReceiveCount,
      }),
    }),
  };
}

function noSuchQueue(): SqsError {
  return new SqsError('QueueDoesNotExist', 'The specified queue does not exist.');
}

function queueOf(input: Input, queues: LocalQueues): LocalQueue {
  const queue = queues.atUrl(requiredString(input, 'QueueUrl'));
  if (!queue) throw noSuchQueue();
  return queue;
}

function requiredString(input: Input, name: string): string {
  const value = input[name];
  if (value === undefined || value === null) {
    throw new SqsError('MissingParameter', `The request must contain the parameter ${name}.`);
  }
  if (typeof value !== 'string') {
    throw new SqsError('InvalidParameterValue', `Value for parameter ${name} must be a string.`);
  }
  return value;
}

function integerParameter(
  input: Input,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const raw = input[name];
  if (raw === undefined || raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SqsError(
      'InvalidParameterValue',
      `Value ${String(raw)} for parameter ${name} is invalid. Reason: must be between ${min} and ${max}.`,
    );
  }
  return value;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** FIFO parameters on a standard queue: SQS refuses them. */
function rejectFifoParameters(input: Input): void {
  for (const name of ['MessageGroupId', 'MessageDeduplicationId']) {
    if (input[name] !== undefined) {
      throw new SqsError(
        'InvalidParameterValue',
        `The request includes parameter ${name} that is not valid for this queue type.`,
      );
    }
  }
}

/** Characters SQS refuses in a body (outside XML 1.0's), a lone surrogate among them. */
const INVALID_CHARACTERS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

function checkedMessage(
  queue: LocalQueue,
  body: string,
  attributes: Record<string, MessageAttribute>,
): { body: string; messageAttributes: Record<string, MessageAttribute> } {
  if (body.length === 0) {
    throw new SqsError(
      'InvalidParameterValue',
      'The request must contain a non-empty message body.',
    );
  }
  if (INVALID_CHARACTERS.test(body)) {
    throw new SqsError(
      'InvalidMessageContents',
      'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF',
    );
  }
  let bytes = Buffer.byteLength(body, 'utf8');
  for (const [name, attribute] of Object.entries(attributes)) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(attribute.DataType);
    bytes += attribute.BinaryValue?.length ?? Buffer.byteLength(attribute.StringValue ?? '');
  }
  if (bytes > queue.maxMessageBytes) {
    throw new SqsError(
      'InvalidParameterValue',
      `One or more parameters are invalid. Reason: Message must be shorter than ${queue.maxMessageBytes} bytes.`,
    );
  }
  return { body, messageAttributes: attributes };
}

/** Message attributes from either protocol's input, checked as SQS checks them. */
function attributesOf(value: unknown): Record<string, MessageAttribute> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new SqsError('InvalidParameterValue', 'MessageAttributes must be a map.');
  }
  const entries = Object.entries(value as Record<string, Record<string, unknown>>);
  if (entries.length > 10) {
    throw new SqsError(
      'InvalidParameterValue',
      `Number of message attributes [${entries.length}] exceeds the allowed maximum [10].`,
    );
  }
  const attributes: Record<string, MessageAttribute> = {};
  for (const [name, raw] of entries) {
    if (!/^[A-Za-z0-9_.-]{1,256}$/.test(name) || /^(aws\.|amazon\.)/i.test(name)) {
      throw new SqsError('InvalidParameterValue', `Message attribute name '${name}' is invalid.`);
    }
    const dataType = raw?.DataType;
    if (typeof dataType !== 'string' || !/^(String|Number|Binary)(\..+)?$/.test(dataType)) {
      throw new SqsError(
        'InvalidParameterValue',
        `The type of message (user) attribute '${name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String.`,
      );
    }
    if (dataType.startsWith('Binary')) {
      if (typeof raw.BinaryValue !== 'string' || raw.BinaryValue === '') {
        throw new SqsError(
          'InvalidParameterValue',
          `Message (user) attribute '${name}' must contain a non-empty value of type '${dataType}'.`,
        );
      }
      attributes[name] = {
        DataType: dataType,
        BinaryValue: Buffer.from(raw.BinaryValue, 'base64'),
      };
    } else {
      if (typeof raw.StringValue !== 'string' || raw.StringValue === '') {
        throw new SqsError(
          'InvalidParameterValue',
          `Message (user) attribute '${name}' must contain a non-empty value of type '${dataType}'.`,
        );
      }
      attributes[name] = { DataType: dataType, StringValue: raw.StringValue };
    }
  }
  return attributes;
}

function sendResult(message: QueueMessage): Result {
  return {
    MessageId: message.messageId,
    MD5OfMessageBody: message.md5OfBody,
    ...(message.md5OfMessageAttributes && {
      MD5OfMessageAttributes: message.md5OfMessageAttributes,
    }),
  };
}

/** A message as `ReceiveMessage` returns it, with the attributes asked for. */
function receivedMessage(
  message: QueueMessage,
  systemNames: string[],
  attributeNames: string[],
): Result {
  const system = systemAttributes(message);
  const wantsAll = systemNames.includes('All');
  const Attributes = Object.fromEntries(
    Object.entries(system).filter(([name]) => wantsAll || systemNames.includes(name)),
  );
  const MessageAttributes = Object.fromEntries(
    Object.entries(message.messageAttributes)
      .filter(([name]) => wantsAttribute(name, attributeNames))
      .map(([name, a]) => [
        name,
        a.BinaryValue !== undefined
          ? { DataType: a.DataType, BinaryValue: a.BinaryValue.toString('base64') }
          : { DataType: a.DataType, StringValue: a.StringValue },
      ]),
  );
  return {
    MessageId: message.messageId,
    ReceiptHandle: message.receiptHandle,
    MD5OfBody: message.md5OfBody,
    Body: message.body,
    ...(Object.keys(Attributes).length > 0 && { Attributes }),
    ...(Object.keys(MessageAttributes).length > 0 && {
      MD5OfMessageAttributes: message.md5OfMessageAttributes,
      MessageAttributes,
    }),
  };
}

function wantsAttribute(name: string, requested: string[]): boolean {
  return requested.some(
    (r) =>
      r === 'All' ||
      r === '.*' ||
      r === name ||
      (r.endsWith('.*') && name.startsWith(r.slice(0, -1))),
  );
}

function describeMessage(message: QueueMessage): string {
  const attributes = Object.keys(message.messageAttributes);
  return `message ${message.messageId} (${Buffer.byteLength(message.body)} B${
    attributes.length > 0 ? `, attributes ${attributes.join(', ')}` : ''
  })`;
}

// ---------------------------------------------------------------------------------------------
// Query protocol responses (XML).

const XMLNS = 'http://queue.amazonaws.com/doc/2012-11-05/';

/**
 * Escapes text for XML. A carriage return is written as a character reference: XML parsers turn
 * a literal one into a line feed, and the body must come back byte for byte.
 */
function xml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/\r/g, '&#xD;');
}

function element(name: string, value: unknown): string {
  return value === undefined ? '' : `<${name}>${xml(String(value))}</${name}>`;
}

function queryResponse(action: string, result: Result, requestId: string): string {
  const inner = queryResult(action, result);
  const resultElement = inner === undefined ? '' : `<${action}Result>${inner}</${action}Result>`;
  return (
    `<?xml version="1.0"?><${action}Response xmlns="${XMLNS}">${resultElement}` +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`
  );
}

function queryResult(action: string, result: Result): string | undefined {
  switch (action) {
    case 'GetQueueUrl':
      return element('QueueUrl', result.QueueUrl);
    case 'SendMessage':
      return sendResultXml(result);
    case 'SendMessageBatch':
      return (
        (result.Successful as Result[])
          .map(
            (entry) =>
              `<SendMessageBatchResultEntry>${element('Id', entry.Id)}${sendResultXml(entry)}</SendMessageBatchResultEntry>`,
          )
          .join('') +
        (result.Failed as Result[])
          .map(
            (entry) =>
              `<BatchResultErrorEntry>${element('Id', entry.Id)}${element('SenderFault', entry.SenderFault)}${element('Code', entry.Code)}${element('Message', entry.Message)}</BatchResultErrorEntry>`,
          )
          .join('')
      );
    case 'ReceiveMessage':
      return ((result.Messages as Result[] | undefined) ?? []).map(messageXml).join('');
    case 'GetQueueAttributes':
      return Object.entries(result.Attributes as Record<string, string>)
        .map(
          ([name, value]) =>
            `<Attribute>${element('Name', name)}${element('Value', value)}</Attribute>`,
        )
        .join('');
    default:
      return undefined;
  }
}

function sendResultXml(result: Result): string {
  return (
    element('MessageId', result.MessageId) +
    element('MD5OfMessageBody', result.MD5OfMessageBody) +
    element('MD5OfMessageAttributes', result.MD5OfMessageAttributes)
  );
}

function messageXml(message: Result): string {
  const attributes = Object.entries((message.Attributes as Record<string, string>) ?? {})
    .map(
      ([name, value]) =>
        `<Attribute>${element('Name', name)}${element('Value', value)}</Attribute>`,
    )
    .join('');
  const messageAttributes = Object.entries(
    (message.MessageAttributes as Record<string, Record<string, string>>) ?? {},
  )
    .map(
      ([name, value]) =>
        `<MessageAttribute>${element('Name', name)}<Value>${element('StringValue', value.StringValue)}${element('BinaryValue', value.BinaryValue)}${element('DataType', value.DataType)}</Value></MessageAttribute>`,
    )
    .join('');
  return (
    `<Message>${element('MessageId', message.MessageId)}${element('ReceiptHandle', message.ReceiptHandle)}` +
    `${element('MD5OfBody', message.MD5OfBody)}${element('Body', message.Body)}${attributes}` +
    `${element('MD5OfMessageAttributes', message.MD5OfMessageAttributes)}${messageAttributes}</Message>`
  );
}
