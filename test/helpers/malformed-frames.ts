/** Binary frames broken in each way a header can be, from a `good` one carrying 3 bytes, with the reason each must be refused for. */
export function malformedHeaders(good: Buffer): [Buffer, RegExp][] {
  return [
    [good.subarray(0, 5), /shorter than its 13-byte header/],
    [Buffer.concat([Buffer.from([9]), good.subarray(1)]), /unknown kind 9/],
    [Buffer.concat([good.subarray(0, 1), Buffer.from([7]), good.subarray(2)]), /unknown stream 7/],
    [good.subarray(0, good.length - 1), /says 3 bytes of payload but carries 2/],
  ];
}
