// Package saga holds the end-to-end tests of the order-processing state machine against
// the emulator: the real statemachine/order-processing.asl.json, with the substitutions
// template.yaml declares, runs in moto's Step Functions interpreter; its Lambda tasks run
// the real process handler in-process and its inventory callback is answered by the real
// inventory handler polling the command queue.
package saga
