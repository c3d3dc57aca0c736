package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/retry"
)

// Inventory strategies: how the inventory function takes stock (template parameter
// InventoryStrategy, env INVENTORY_STRATEGY; README "Scaling").
const (
	// StrategyTransaction takes every line and writes the reservation in one
	// TransactWriteItems (InventoryStore): 2 WCU per line on the SKU's item, and
	// concurrent reservations of one SKU conflict.
	StrategyTransaction = "transaction"
	// StrategyConditional takes line by line with conditional updates
	// (ConditionalInventoryStore): 1 WCU per line, no conflict window.
	StrategyConditional = "conditional"
)

// ConditionalInventoryAPI is the part of the DynamoDB client that
// ConditionalInventoryStore uses.
type ConditionalInventoryAPI interface {
	InventoryAPI
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ ConditionalInventoryAPI = (*dynamodb.Client)(nil)

// Marks a reservation leaves on a SKU item's holds map: T under its nonce when it takes
// the line (swept once the reservation is final), R under returnKey(nonce) when a release
// gives it back (kept: a release retried after any sweep must still find it).
const (
	markTaken    = "T"
	markReturned = "R"
)

func returnKey(nonce string) string { return nonce + "r" }

// A reserve owns a PENDING reservation until its own deadline (the Lambda invocation's,
// after which Lambda has stopped it) plus leaseMargin, or for DefaultLease when its
// context has no deadline: an owner whose lease ran out is dead, so two calls never take
// for one reservation at the same time. A call that finds another's lease running waits
// for it when it ends before its own deadline, else answers an error to retry.
const (
	DefaultLease = 30 * time.Second
	leaseMargin  = time.Second
)

// maxSweep bounds the markers one take removes.
const maxSweep = 32

// ConditionalInventoryStore is the inventory store of the conditional strategy. The
// catalog and Reservation are InventoryStore's; Reserve and Release never put a SKU's
// item in a transaction:
//
//  1. Reserve writes the reservation record PENDING, with its lines, a random nonce
//     and a lease naming its owner (the call), on condition that none exists. A
//     reservation that exists is a no-op, unless it is PENDING with an expired lease:
//     then the call takes it over and goes on where the dead owner stopped.
//  2. Each line is taken with one UpdateItem on the SKU's item: stock - q, and the
//     mark holds[nonce] = T, on condition that stock >= q and the mark is absent. A
//     mark already there means the line was taken before the crash: not again.
//  3. All lines held: the record becomes RESERVED (on condition that the caller still
//     owns it). A short line: the lines marked T are given back (stock + q, mark
//     removed, on condition of the mark), the record becomes SHORT with the short
//     lines, and the call returns *inventory.OutOfStockError, as every later delivery
//     of the command does.
//
// Release moves RESERVED (or PENDING with an expired lease) to RELEASING, gives every
// line back once (stock + q and the mark R under returnKey(nonce), on condition that
// it is absent; for a PENDING reservation only the lines marked T), then RELEASING to
// RELEASED. A SHORT reservation holds nothing to give back. A crash
// anywhere leaves the record PENDING or RELEASING, and the next reserve or release of
// the order finishes the job from the marks.
//
// Marks of finished reservations are removed by the store's next take of the same SKU
// (at most maxSweep at a time), so that the SKU's item stays small: a write costs 1 WCU
// per KB of item. A store that stops meanwhile leaves its marks (a few bytes each).
type ConditionalInventoryStore struct {
	*InventoryStore
	c ConditionalInventoryAPI
	// Now and Lease (the lease of a call without a deadline) default to time.Now and
	// DefaultLease.
	Now   func() time.Time
	Lease time.Duration

	mu     sync.Mutex
	sweep  map[string][]string   // SKU -> marks of finished reservations
	queued map[string][]*takeReq // SKU with a take in flight -> takes waiting for it
}

// NewConditionalInventoryStore returns a ConditionalInventoryStore on table.
func NewConditionalInventoryStore(c ConditionalInventoryAPI, table string) *ConditionalInventoryStore {
	return &ConditionalInventoryStore{InventoryStore: NewInventoryStore(c, table), c: c,
		sweep: map[string][]string{}, queued: map[string][]*takeReq{}}
}

// NewInventoryStoreFor returns the inventory store of strategy ("" is
// StrategyTransaction), or an error naming an unknown one.
func NewInventoryStoreFor(c ConditionalInventoryAPI, table, strategy string) (interface {
	Reserve(ctx context.Context, orderID string, lines []inventory.Line) error
	Release(ctx context.Context, orderID string) error
}, error) {
	switch strategy {
	case "", StrategyTransaction:
		return NewInventoryStore(c, table), nil
	case StrategyConditional:
		return NewConditionalInventoryStore(c, table), nil
	}
	return nil, fmt.Errorf("unknown inventory strategy %q (want %s or %s)", strategy, StrategyTransaction, StrategyConditional)
}

// record is a reservation record with the conditional strategy's attributes.
type record struct {
	Reservation
	nonce       string
	owner       string
	leaseUntil  int64 // unix ms
	wasReserved bool
}

func (s *ConditionalInventoryStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// leaseUntil is the end of a lease taken at now by a call with ctx, in unix ms.
func (s *ConditionalInventoryStore) leaseUntil(ctx context.Context, now time.Time) int64 {
	if d, ok := ctx.Deadline(); ok {
		return d.Add(leaseMargin).UnixMilli()
	}
	if s.Lease > 0 {
		return now.Add(s.Lease).UnixMilli()
	}
	return now.Add(DefaultLease).UnixMilli()
}

// awaitLease waits until rec's lease ends when it ends before ctx's deadline, or
// returns an error to retry later.
func (s *ConditionalInventoryStore) awaitLease(ctx context.Context, rec record) error {
	end := time.UnixMilli(rec.leaseUntil)
	if d, ok := ctx.Deadline(); !ok || !end.Before(d.Add(-leaseMargin)) {
		return fmt.Errorf("reservation in progress (owner %s until %s): retry later", rec.owner, end.UTC().Format(time.RFC3339Nano))
	}
	return retry.Sleep(ctx, end.Sub(s.now())+10*time.Millisecond)
}

func newNonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	return hex.EncodeToString(b)
}

// Reserve takes every line for orderID or none (see ConditionalInventoryStore). It
// returns nil for an order that reserved or released before, *inventory.OutOfStockError
// (not wrapped) naming the short lines, and an error to retry while another call owns
// the order's PENDING reservation.
func (s *ConditionalInventoryStore) Reserve(ctx context.Context, orderID string, lines []inventory.Line) error {
	if err := checkReserve(orderID, lines); err != nil {
		return err
	}
	owner := newNonce()
	rec, err := s.begin(ctx, orderID, lines, owner)
	if err != nil {
		return fmt.Errorf("reserve order %s: %w", orderID, err)
	}
	switch rec.State {
	case inventory.Pending:
	case inventory.Short: // found short before: the same answer
		skus := make([]string, len(rec.Lines))
		for i, l := range rec.Lines {
			skus[i] = l.SKU
		}
		return &inventory.OutOfStockError{OrderID: orderID, SKUs: skus}
	default:
		return nil // reserved or released before: an idempotent no-op
	}
	var short []string
	for _, l := range rec.Lines {
		held, err := s.take(ctx, rec.nonce, l)
		if err != nil {
			return fmt.Errorf("reserve order %s: %w", orderID, err) // stays PENDING: resumed or released later
		}
		if !held {
			short = append(short, l.SKU)
		}
	}
	if len(short) == 0 {
		err := s.setState(ctx, orderID, owner, inventory.Pending, inventory.Reserved, nil)
		if err != nil && !s.landed(ctx, orderID, err, inventory.Reserved) {
			return fmt.Errorf("reserve order %s: %w", orderID, err)
		}
		s.finished(rec.nonce, rec.Lines)
		return nil
	}
	for _, l := range rec.Lines {
		if _, err := s.update(ctx, l.SKU, "SET stock = stock + :q REMOVE holds.#n", "holds.#n = :t",
			map[string]string{"#n": rec.nonce}, map[string]types.AttributeValue{":q": attrN(l.Quantity), ":t": attrS(markTaken)}); err != nil {
			return fmt.Errorf("reserve order %s: give back %s: %w", orderID, l.SKU, err)
		}
	}
	var shortLines []inventory.Line
	for _, l := range rec.Lines {
		if slices.Contains(short, l.SKU) {
			shortLines = append(shortLines, l)
		}
	}
	// SHORT, not deleted: a redelivery of this command (its answer lost, or the batch
	// retried) must answer out of stock again, not take stock for an order the state
	// machine has cancelled.
	_, err = s.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      reservationKey(orderID),
		UpdateExpression:         aws.String("SET #s = :short, #l = :lines REMOVE #o, lease_until"),
		ConditionExpression:      aws.String("#s = :pending AND #o = :me"),
		ExpressionAttributeNames: map[string]string{"#s": "state", "#o": "owner", "#l": "lines"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":short": attrS(string(inventory.Short)), ":lines": encodeLines(shortLines),
			":pending": attrS(string(inventory.Pending)), ":me": attrS(owner)},
	})
	if err != nil && !s.landed(ctx, orderID, err, inventory.Short) {
		return fmt.Errorf("reserve order %s: mark the reservation short: %w", orderID, err)
	}
	return &inventory.OutOfStockError{OrderID: orderID, SKUs: short}
}

// landed reports whether err, a write's failure, is a failed condition on a reservation
// that is in state already: the write landed and its answer was lost (the SDK retried a
// request DynamoDB had applied), or another call finished the same reservation.
func (s *ConditionalInventoryStore) landed(ctx context.Context, orderID string, err error, state inventory.ReservationState) bool {
	if !isConditionFailed(err) {
		return false
	}
	rec, rerr := s.record(ctx, orderID)
	return rerr == nil && rec.State == state
}

// begin creates orderID's reservation PENDING and owned by owner, or returns the one
// that exists: taken over by owner when it is PENDING and its lease expired, an error
// when another owner's lease runs.
func (s *ConditionalInventoryStore) begin(ctx context.Context, orderID string, lines []inventory.Line, owner string) (record, error) {
	for attempt := 0; attempt < conflictAttempts; attempt++ {
		now := s.now()
		until := s.leaseUntil(ctx, now)
		nonce := newNonce()
		item := reservationItem(orderID, inventory.Pending, lines)
		item["nonce"], item["owner"], item["lease_until"] = attrS(nonce), attrS(owner), attrN(until)
		_, err := s.c.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:           aws.String(s.table),
			Item:                item,
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
		if err == nil {
			return record{Reservation: Reservation{OrderID: orderID, State: inventory.Pending, Lines: lines}, nonce: nonce, owner: owner, leaseUntil: until}, nil
		}
		if !isConditionFailed(err) {
			return record{}, err
		}
		rec, err := s.record(ctx, orderID)
		switch {
		case errors.Is(err, inventory.ErrNoReservation):
			continue // dropped meanwhile (out of stock): try again
		case err != nil:
			return record{}, err
		case rec.State != inventory.Pending:
			return rec, nil
		case rec.owner == owner:
			// Our own write landed and its answer was lost: the SDK retried a request
			// DynamoDB had applied, and the retry's condition failed on it.
			return rec, nil
		case rec.leaseUntil > now.UnixMilli():
			if err := s.awaitLease(ctx, rec); err != nil {
				return record{}, err
			}
			continue
		}
		_, err = s.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                aws.String(s.table),
			Key:                      reservationKey(orderID),
			UpdateExpression:         aws.String("SET #o = :me, lease_until = :until"),
			ConditionExpression:      aws.String("#s = :pending AND lease_until = :old"),
			ExpressionAttributeNames: map[string]string{"#s": "state", "#o": "owner"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":me": attrS(owner), ":until": attrN(until),
				":pending": attrS(string(inventory.Pending)), ":old": attrN(rec.leaseUntil)},
		})
		if err == nil {
			rec.owner, rec.leaseUntil = owner, until
			return rec, nil
		}
		if !isConditionFailed(err) {
			return record{}, err
		}
	}
	return record{}, errors.New("reservation record keeps changing: retry later")
}

// take takes l's quantity under the mark nonce unless the mark is there already. It
// reports whether the line is held: false when the stock is short or the SKU is not in
// the catalog. Takes of one SKU that arrive while a write to it is in flight wait and
// go together in the next write (group commit): one UpdateItem, 1 WCU, for all of them.
func (s *ConditionalInventoryStore) take(ctx context.Context, nonce string, l inventory.Line) (bool, error) {
	r := &takeReq{nonce: nonce, qty: l.Quantity, done: make(chan struct{})}
	s.mu.Lock()
	if q, busy := s.queued[l.SKU]; busy {
		s.queued[l.SKU] = append(q, r)
		s.mu.Unlock()
		<-r.done // the write in flight hands the queue over, or answers
		if r.batch == nil {
			return r.held, r.err
		}
	} else {
		s.queued[l.SKU] = nil // a write is in flight, nobody waits yet
		s.mu.Unlock()
		r.batch = []*takeReq{r}
	}
	s.takeBatch(ctx, l.SKU, r.batch)
	s.mu.Lock()
	q := s.queued[l.SKU]
	if len(q) == 0 {
		delete(s.queued, l.SKU)
	} else {
		s.queued[l.SKU] = nil
		q[0].batch = q // the first waiter leads the next write
		close(q[0].done)
	}
	s.mu.Unlock()
	return r.held, r.err
}

// takeReq is one take waiting for a write to its SKU; batch is set for the one that
// leads a write.
type takeReq struct {
	nonce string
	qty   int64
	held  bool
	err   error
	batch []*takeReq
	done  chan struct{}
}

// takeBatch answers every take of batch but the caller's own (batch[0], which reads its
// answer from itself). It writes all of them in one conditional update (every mark
// absent, stock for all). When that condition fails it reads the SKU's item once: a take
// whose mark is there is held already, one whose quantity is above the stock is short
// (a read, no write, for the orders a sold-out SKU turns away), and the others that fit
// go in the next update, the rest wait for the round after.
func (s *ConditionalInventoryStore) takeBatch(ctx context.Context, sku string, batch []*takeReq) {
	defer func() {
		for _, r := range batch[1:] {
			close(r.done)
		}
	}()
	write, rest := batch, []*takeReq(nil)
	for round := 0; len(write)+len(rest) > 0; round++ {
		if round > 0 {
			st, err := s.skuState(ctx, sku)
			if err != nil || round == 2*conflictAttempts {
				if err == nil {
					err = fmt.Errorf("sku %s: stock keeps changing under the takes", sku)
				}
				answer(append(write, rest...), false, err)
				return
			}
			write, rest = st.settle(append(write, rest...))
		}
		if len(write) == 0 {
			continue
		}
		var sum int64
		sets := make([]string, len(write))
		conds := []string{"attribute_exists(pk)", "stock >= :q"}
		names := map[string]string{}
		for i, r := range write {
			sum += r.qty
			names[fmt.Sprintf("#n%d", i)] = r.nonce
			sets[i] = fmt.Sprintf("holds.#n%d = :t", i)
			conds = append(conds, fmt.Sprintf("attribute_not_exists(holds.#n%d)", i))
		}
		applied, err := s.takeWrite(ctx, sku, "SET stock = stock - :q, "+strings.Join(sets, ", "), strings.Join(conds, " AND "), names, sum)
		switch {
		case err != nil:
			answer(append(write, rest...), false, err)
			return
		case applied:
			answer(write, true, nil)
			write = nil
		}
	}
}

func answer(reqs []*takeReq, held bool, err error) {
	for _, r := range reqs {
		r.held, r.err = held, err
	}
}

// skuState is what a consistent read of a SKU's item says about takes.
type skuState struct {
	exists bool
	stock  int64
	holds  map[string]types.AttributeValue
}

// settle answers the takes of reqs the state decides (marked: held; given back, above
// the stock or no such SKU: not held) and splits the others into those that fit in the
// stock together, in order, and those that must wait for them.
func (st skuState) settle(reqs []*takeReq) (write, rest []*takeReq) {
	var sum int64
	for _, r := range reqs {
		mark := getS(st.holds, r.nonce)
		switch {
		case !st.exists || getS(st.holds, returnKey(r.nonce)) != "":
			r.held = false
		case mark == markTaken:
			r.held = true
		case r.qty > st.stock:
			r.held = false
		case sum+r.qty <= st.stock:
			sum += r.qty
			write = append(write, r)
		default:
			rest = append(rest, r)
		}
	}
	return write, rest
}

// skuState reads sku's item consistently.
func (s *ConditionalInventoryStore) skuState(ctx context.Context, sku string) (skuState, error) {
	out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            skuKey(sku),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return skuState{}, fmt.Errorf("sku %s: %w", sku, err)
	}
	if len(out.Item) == 0 {
		return skuState{}, nil
	}
	st := skuState{exists: true}
	if st.stock, err = getN(out.Item, "stock"); err != nil {
		return skuState{}, fmt.Errorf("sku %s: %w", sku, err)
	}
	if holds, ok := out.Item["holds"].(*types.AttributeValueMemberM); ok {
		st.holds = holds.Value
	}
	return st, nil
}

// takeWrite is a take's conditional update of sku's item (expr takes :q and marks :t),
// removing marks of finished reservations on the way.
func (s *ConditionalInventoryStore) takeWrite(ctx context.Context, sku, expr, cond string, names map[string]string, qty int64) (bool, error) {
	swept := s.takeSweep(sku)
	if len(swept) > 0 {
		paths := make([]string, len(swept))
		for i, k := range swept {
			names[fmt.Sprintf("#s%d", i)] = k
			paths[i] = fmt.Sprintf("holds.#s%d", i)
		}
		expr += " REMOVE " + strings.Join(paths, ", ")
	}
	applied, err := s.update(ctx, sku, expr, cond, names, map[string]types.AttributeValue{":q": attrN(qty), ":t": attrS(markTaken)})
	if !applied {
		s.putSweep(sku, swept)
	}
	return applied, err
}

// update applies one conditional update to sku's item and reports whether the
// condition held. It adds the holds map to an item written before the markers, and
// retries throttled writes with backoff (the SDK's own retries exhausted).
func (s *ConditionalInventoryStore) update(ctx context.Context, sku, expr, cond string, names map[string]string, values map[string]types.AttributeValue) (bool, error) {
	for attempt := 0; ; attempt++ {
		_, err := s.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.table),
			Key:                       skuKey(sku),
			UpdateExpression:          aws.String(expr),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
		switch {
		case err == nil:
			return true, nil
		case isConditionFailed(err):
			return false, nil
		case isMissingHolds(err):
			if err := s.addHolds(ctx, sku); err != nil {
				return false, err
			}
		case isThrottled(err) && tryAgain(ctx, attempt):
			if err := backoff(ctx, attempt); err != nil {
				return false, err
			}
		default:
			return false, fmt.Errorf("sku %s: %w", sku, err)
		}
	}
}

// addHolds gives sku's item an empty holds map unless it has one.
func (s *ConditionalInventoryStore) addHolds(ctx context.Context, sku string) error {
	_, err := s.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       skuKey(sku),
		UpdateExpression:          aws.String("SET holds = :empty"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(holds)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":empty": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}}},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("sku %s: add holds: %w", sku, err)
	}
	return nil
}

// Release gives back the stock of orderID's reservation once (see
// ConditionalInventoryStore). Releasing twice returns nil; releasing an order that
// reserved nothing leaves a RELEASED tombstone, as InventoryStore.Release does. It
// returns an error to retry while a reserve owns the order's PENDING reservation.
func (s *ConditionalInventoryStore) Release(ctx context.Context, orderID string) error {
	for attempt := 0; attempt < conflictAttempts; attempt++ {
		rec, err := s.record(ctx, orderID)
		if errors.Is(err, inventory.ErrNoReservation) {
			if placed, err := s.releaseUnreserved(ctx, orderID); placed || err != nil {
				return err
			}
			continue // a reservation appeared meanwhile: release it
		}
		if err != nil {
			return fmt.Errorf("release order %s: %w", orderID, err)
		}
		switch rec.State {
		case inventory.Released, inventory.Short:
			return nil // nothing held
		case inventory.Pending:
			if rec.leaseUntil > s.now().UnixMilli() {
				if err := s.awaitLease(ctx, rec); err != nil {
					return fmt.Errorf("release order %s: %w", orderID, err)
				}
				continue
			}
			fallthrough
		case inventory.Reserved:
			err := s.setState(ctx, orderID, "", rec.State, inventory.Releasing, &rec)
			if isConditionFailed(err) {
				continue // changed meanwhile: read it again
			}
			if err != nil {
				return fmt.Errorf("release order %s: %w", orderID, err)
			}
			rec.wasReserved = rec.State == inventory.Reserved
		}
		// RELEASING: give every held line back once, under a return mark of its own key
		// (never swept: a retried release must find it; a take's mark may be swept).
		cond := "holds.#n = :t AND attribute_not_exists(holds.#r)" // a PENDING reservation holds the lines marked T
		if rec.wasReserved {
			cond = "attribute_exists(pk) AND attribute_not_exists(holds.#r)"
		}
		for _, l := range rec.Lines {
			if !rec.wasReserved { // only the lines marked T: read first, no write for the others
				st, err := s.skuState(ctx, l.SKU)
				if err != nil {
					return fmt.Errorf("release order %s: %w", orderID, err)
				}
				if getS(st.holds, rec.nonce) != markTaken {
					continue
				}
			}
			names := map[string]string{"#r": returnKey(rec.nonce)}
			values := map[string]types.AttributeValue{":q": attrN(l.Quantity), ":r": attrS(markReturned)}
			if !rec.wasReserved {
				names["#n"], values[":t"] = rec.nonce, attrS(markTaken)
			}
			applied, err := s.update(ctx, l.SKU, "SET stock = stock + :q, holds.#r = :r", cond, names, values)
			if err != nil {
				return fmt.Errorf("release order %s: %w", orderID, err)
			}
			if !applied {
				if st, err := s.skuState(ctx, l.SKU); err != nil || !st.exists {
					return fmt.Errorf("release order %s: sku %s: %w", orderID, l.SKU, errors.Join(err, inventory.ErrUnknownSKU))
				}
			}
		}
		err = s.setState(ctx, orderID, "", inventory.Releasing, inventory.Released, nil)
		if err != nil && !isConditionFailed(err) {
			return fmt.Errorf("release order %s: %w", orderID, err)
		}
		s.finished(rec.nonce, rec.Lines)
		return nil
	}
	return fmt.Errorf("release order %s: reservation keeps changing: retry later", orderID)
}

// setState moves orderID's reservation from one state to another, on condition that
// it is in from (and owned by owner, unless owner is ""; a PENDING reservation's lease
// unchanged when rec is given). Leaving PENDING drops the lease; entering RELEASING
// records whether the reservation was RESERVED. A failed condition is returned wrapped.
func (s *ConditionalInventoryStore) setState(ctx context.Context, orderID, owner string, from, to inventory.ReservationState, rec *record) error {
	names := map[string]string{"#s": "state"}
	values := map[string]types.AttributeValue{":from": attrS(string(from)), ":to": attrS(string(to))}
	expr, cond := "SET #s = :to", "#s = :from"
	if to == inventory.Releasing {
		expr += ", was_reserved = :was"
		values[":was"] = &types.AttributeValueMemberBOOL{Value: from == inventory.Reserved}
	}
	if from == inventory.Pending {
		expr += " REMOVE #o, lease_until"
		names["#o"] = "owner"
		if owner != "" {
			cond += " AND #o = :me"
			values[":me"] = attrS(owner)
		}
		if rec != nil {
			cond += " AND lease_until = :lease"
			values[":lease"] = attrN(rec.leaseUntil)
		}
	}
	_, err := s.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       reservationKey(orderID),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("reservation %s -> %s: %w", from, to, err)
	}
	return nil
}

// record reads orderID's reservation with the strategy's attributes; it returns
// inventory.ErrNoReservation itself, not wrapped.
func (s *ConditionalInventoryStore) record(ctx context.Context, orderID string) (record, error) {
	item, err := s.reservationItem(ctx, orderID)
	if err != nil {
		return record{}, err
	}
	r, err := decodeReservation(item)
	if err != nil {
		return record{}, err
	}
	lease, err := getN(item, "lease_until")
	if err != nil {
		return record{}, err
	}
	was, _ := item["was_reserved"].(*types.AttributeValueMemberBOOL)
	return record{Reservation: r, nonce: getS(item, "nonce"), owner: getS(item, "owner"), leaseUntil: lease,
		wasReserved: was != nil && was.Value}, nil
}

// finished queues the marks nonce left on lines' SKUs for removal by later takes.
func (s *ConditionalInventoryStore) finished(nonce string, lines []inventory.Line) {
	if nonce == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lines {
		s.sweep[l.SKU] = append(s.sweep[l.SKU], nonce)
	}
}

// takeSweep takes up to maxSweep queued marks of sku.
func (s *ConditionalInventoryStore) takeSweep(sku string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.sweep[sku]
	n := min(len(q), maxSweep)
	out := q[len(q)-n:]
	if n == len(q) {
		delete(s.sweep, sku)
	} else {
		s.sweep[sku] = q[:len(q)-n]
	}
	return out
}

// putSweep queues marks again that a take did not remove.
func (s *ConditionalInventoryStore) putSweep(sku string, marks []string) {
	if len(marks) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep[sku] = append(s.sweep[sku], marks...)
}

// isMissingHolds reports whether an update failed because the item has no holds map
// (written before the conditional strategy).
func isMissingHolds(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ValidationException" &&
		strings.Contains(api.ErrorMessage(), "document path")
}
