import { type Endpoint, ErrorCode, ProtocolError, ServerError } from './errors.js';
import { RpcClient, type RpcClientOptions } from './rpc/client.js';
import { encodeRequest } from './wire/requests.js';
import { decodeResponse } from './wire/responses.js';
import type {
  AdminRequest,
  AdminResult,
  DeleteRequest,
  GetRequest,
  GetResult,
  LogChunkRequest,
  LogChunkResult,
  PutRequest,
  ReplicaMetadataRequest,
  ReplicaMetadataResult,
  RequestOf,
  RequestType,
  Response,
  ResultMap,
  TtlUpdateRequest,
  UndeleteRequest,
  UndeleteResult,
} from './wire/types.js';

export interface DataNodeClientOptions extends RpcClientOptions {
  /** Identity sent with every request, for the data node's logs. */
  readonly clientId?: string;
}

export interface CallOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** See RpcRequestOptions.receiveInto: the result's byte fields may be views of this buffer. */
  readonly receiveInto?: Buffer;
}

type Fields<T> = Omit<T, 'type'>;

/**
 * Typed client for data nodes: one pooled, multiplexed RpcClient underneath, one method per request
 * type. The per-type methods throw ServerError when the node answers with an error code; `send`
 * returns the raw response (error code included) for callers that count outcomes, like a quorum.
 */
export class DataNodeClient {
  readonly rpc: RpcClient;
  private readonly clientId: string;

  constructor(options: DataNodeClientOptions = {}) {
    const { clientId, ...rpcOptions } = options;
    this.clientId = clientId ?? '';
    this.rpc = new RpcClient(rpcOptions);
  }

  async send<T extends RequestType>(
    endpoint: Endpoint,
    request: RequestOf<T>,
    options: CallOptions = {},
  ): Promise<Response<T>> {
    const message = encodeRequest(request, this.clientId);
    const reply = await this.rpc.request(endpoint, message, options);
    if (reply.payloadSelfChecked === true && request.type !== 'logChunk') {
      // Only log records carry checksums of their own; any other payload must be frame-checked.
      throw new ProtocolError(
        `a ${request.type} response left its payload out of the frame checksum`,
        endpoint,
      );
    }
    try {
      return decodeResponse(reply.header, reply.payload, request.type as T);
    } catch (error) {
      throw new ProtocolError(`invalid ${request.type} response`, endpoint, { cause: error });
    }
  }

  private async call<T extends RequestType>(
    endpoint: Endpoint,
    request: RequestOf<T>,
    options?: CallOptions,
  ): Promise<ResultMap[T]> {
    const response = await this.send<T>(endpoint, request, options);
    if (response.error !== ErrorCode.OK)
      throw new ServerError(response.error, response.errorMessage, endpoint);
    return response.result;
  }

  put(endpoint: Endpoint, request: Fields<PutRequest>, options?: CallOptions): Promise<void> {
    return this.call<'put'>(endpoint, { type: 'put', ...request }, options);
  }

  get(endpoint: Endpoint, request: Fields<GetRequest>, options?: CallOptions): Promise<GetResult> {
    return this.call<'get'>(endpoint, { type: 'get', ...request }, options);
  }

  delete(endpoint: Endpoint, request: Fields<DeleteRequest>, options?: CallOptions): Promise<void> {
    return this.call<'delete'>(endpoint, { type: 'delete', ...request }, options);
  }

  ttlUpdate(endpoint: Endpoint, request: Fields<TtlUpdateRequest>, options?: CallOptions): Promise<void> {
    return this.call<'ttlUpdate'>(endpoint, { type: 'ttlUpdate', ...request }, options);
  }

  undelete(
    endpoint: Endpoint,
    request: Fields<UndeleteRequest>,
    options?: CallOptions,
  ): Promise<UndeleteResult> {
    return this.call<'undelete'>(endpoint, { type: 'undelete', ...request }, options);
  }

  replicaMetadata(
    endpoint: Endpoint,
    request: Fields<ReplicaMetadataRequest>,
    options?: CallOptions,
  ): Promise<ReplicaMetadataResult> {
    return this.call<'replicaMetadata'>(endpoint, { type: 'replicaMetadata', ...request }, options);
  }

  admin(endpoint: Endpoint, request: Fields<AdminRequest>, options?: CallOptions): Promise<AdminResult> {
    return this.call<'admin'>(endpoint, { type: 'admin', ...request }, options);
  }

  /**
   * Raw log records of one replica, to rebuild an empty replica from (docs/formats.md section 6,
   * LOG_CHUNK). The frame checksum does not cover `records`: every record carries checksums over all its
   * bytes, and the caller must verify them before use (`BlobStore.appendLogChunk` does).
   */
  logChunk(
    endpoint: Endpoint,
    request: Fields<LogChunkRequest>,
    options?: CallOptions,
  ): Promise<LogChunkResult> {
    return this.call<'logChunk'>(endpoint, { type: 'logChunk', ...request }, options);
  }

  close(): Promise<void> {
    return this.rpc.close();
  }
}
