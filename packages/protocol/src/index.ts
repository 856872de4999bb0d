// @ambry/protocol: the contracts every part of the blob store shares.

export * from './blob-id.js';
export * from './blob-properties.js';
export { Xxh64, xxh64 } from './checksum.js';
export * from './composite-metadata.js';
export * from './datanode-client.js';
export * from './datanode-server.js';
export * from './errors.js';
export {
  DEFAULT_MAX_FRAME_BYTES,
  encodedFrameSize,
  encodeFrame,
  FRAME_PREFIX_BYTES,
  FRAME_VERSION,
  type Frame,
  FrameDecoder,
  type FrameDecoderOptions,
  type FrameKind,
} from './frame.js';
export type { Logger } from './logger.js';
export { silentLogger } from './logger.js';
export * from './rpc/client.js';
export * from './rpc/server.js';
export * from './transport/memory.js';
export * from './transport/tcp.js';
export type { ConnectOptions, Transport, TransportListener } from './transport/transport.js';
export * from './user-metadata.js';
export {
  decodeRequest,
  type EncodedMessage,
  encodeRequest,
  REQUEST_LIMITS,
  RequestDecodeError,
} from './wire/requests.js';
export { decodeResponse, encodeResponse, MAX_ERROR_MESSAGE_CHARS } from './wire/responses.js';
export * from './wire/types.js';
