/**
 * @flexattn/kv-cache — a paged KV cache: sequences' K/V in fixed-size pages of one pair of backend
 * tensors, logical BlockMasks mapped to the pages (convert_logical_block_mask), and mask/score mods
 * translated from physical slots to logical positions through a captured page table — so paged
 * attention runs through the ordinary block-sparse kernels, prefill and decode, with GQA.
 */
export { PagedKVCache, type PagedKVCacheOptions } from './cache';
export { BatchIndexError, KvCacheError, OutOfPagesError, ReservationExceededError } from './errors';
export { holdsToken, logicalPosition, type PagedView } from './mods';
