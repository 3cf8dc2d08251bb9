// The live page's audio worklet: hands each block of the microphone's first channel (Float32,
// at the AudioContext's rate) to the page, which downsamples, encodes and sends it.
"use strict";

class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const input = inputs[0];
    if (input && input[0] && input[0].length) this.port.postMessage(input[0].slice(0));
    return true;
  }
}

registerProcessor("capture", Capture);
