package event

import "fmt"

// ClaimResult is what a claim on a processed-event marker found (a MarkerStore's Claim,
// in pkg/dynamo and pkg/memstore): a consumer performs an event's effect once per
// eventId by claiming it first.
type ClaimResult int

const (
	// Claimed means the caller now holds the marker's lease: it performs the effect, then
	// calls Done, or Unclaim when the effect failed.
	Claimed ClaimResult = iota + 1
	// AlreadyDone means the effect was performed (Done was called): skip it.
	AlreadyDone
	// InProgress means another delivery holds a lease that has not run out yet and is
	// performing the effect right now: try again later, when it is either done or stale.
	InProgress
)

// String returns the result's name.
func (r ClaimResult) String() string {
	switch r {
	case Claimed:
		return "Claimed"
	case AlreadyDone:
		return "AlreadyDone"
	case InProgress:
		return "InProgress"
	}
	return fmt.Sprintf("ClaimResult(%d)", int(r))
}
