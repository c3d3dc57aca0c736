package sources

// maxCopies bounds the extra deliveries a Duplicate hook can ask for in a row.
const maxCopies = 3

// deliverCopies delivers payload again while dup (a Duplicate hook; nil: never) says so,
// at most maxCopies times. Each copy is decided on again, as a delivery of its own: so
// the decisions about a payload end with its first "no", made in the same place in every
// run, and a redelivery that timing adds later (a batch retried for another record's
// failure) meets that "no" instead of a decision the run never reached before.
func deliverCopies(dup func([]byte) bool, payload []byte, deliver func()) {
	for i := 0; i < maxCopies && dup != nil && dup(payload); i++ {
		deliver()
	}
}
