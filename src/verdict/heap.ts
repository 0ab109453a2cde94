/**
 * The `limit` worst of many ids without sorting them all: a bounded heap whose root is the
 * best of the worst kept so far, the first to go: O(n log limit), with no array of every
 * tuple to sort (100,000 tuples on a busy host). Used by the
 * socket tuples' ranking and by the NAT pools'.
 */

/** An order on ids: negative when a ranks before (is worse than) b. */
export interface IdOrder {
  compare(a: number, b: number): number;
}

// The heap keeps, at every parent, an id that ranks after (is better than) its children.
export function siftUp(heap: Int32Array, at: number, order: IdOrder): void {
  const t = heap[at];
  while (at > 0) {
    const parent = (at - 1) >> 1;
    if (order.compare(heap[parent], t) >= 0) break;
    heap[at] = heap[parent];
    at = parent;
  }
  heap[at] = t;
}

export function siftDown(heap: Int32Array, size: number, order: IdOrder): void {
  const t = heap[0];
  let at = 0;
  for (;;) {
    let child = 2 * at + 1;
    if (child >= size) break;
    if (child + 1 < size && order.compare(heap[child + 1], heap[child]) > 0) child++;
    if (order.compare(heap[child], t) <= 0) break;
    heap[at] = heap[child];
    at = child;
  }
  heap[at] = t;
}
