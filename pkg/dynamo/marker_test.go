package dynamo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/event"
)

// fakeMarkerDB is a MarkerAPI whose PutItem answers with put; the other calls fail.
type fakeMarkerDB struct {
	put func(*dynamodb.PutItemInput) error
}

func (f *fakeMarkerDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return &dynamodb.PutItemOutput{}, f.put(in)
}

func (f *fakeMarkerDB) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, errUnexpected
}

func (f *fakeMarkerDB) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, errUnexpected
}

// TestMarkerClaimAnswers covers the answers the emulator does not give: a marker written
// before leases existed, a condition failure without the old item, a service error.
func TestMarkerClaimAnswers(t *testing.T) {
	errThrottled := errors.New("throttled")
	failed := func(item map[string]types.AttributeValue) error {
		return &types.ConditionalCheckFailedException{Item: item}
	}
	pk := &types.AttributeValueMemberS{Value: "notify#e1"}
	tests := []struct {
		name    string
		answer  error
		want    event.ClaimResult
		wantErr error // errors.Is target; errUnexpected: any error
	}{
		{name: "put succeeds", want: event.Claimed},
		{name: "done marker", want: event.AlreadyDone, answer: failed(map[string]types.AttributeValue{
			"pk": pk, "status": &types.AttributeValueMemberS{Value: "DONE"}})},
		{name: "fresh claim", want: event.InProgress, answer: failed(map[string]types.AttributeValue{
			"pk": pk, "status": &types.AttributeValueMemberS{Value: "IN_PROGRESS"}})},
		{name: "marker from before leases counts as done", want: event.AlreadyDone,
			answer: failed(map[string]types.AttributeValue{"pk": pk})},
		{name: "condition failed without the old item", answer: failed(nil), wantErr: errUnexpected},
		{name: "service error", answer: errThrottled, wantErr: errThrottled},
	}
	now := time.Date(2026, 1, 1, 0, 0, 5, 250_000_000, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *dynamodb.PutItemInput
			s := dynamo.NewMarkerStore(&fakeMarkerDB{put: func(in *dynamodb.PutItemInput) error {
				got = in
				return tt.answer
			}}, "idem", "notify#")
			res, err := s.Claim(context.Background(), "e1", 10*time.Second, time.Hour, now)
			switch {
			case tt.wantErr == errUnexpected && err == nil,
				tt.wantErr != nil && tt.wantErr != errUnexpected && !errors.Is(err, tt.wantErr),
				tt.wantErr == nil && err != nil:
				t.Fatalf("Claim = %v, %v; want error %v", res, err, tt.wantErr)
			}
			if tt.wantErr == nil && res != tt.want {
				t.Errorf("Claim = %v, want %v", res, tt.want)
			}
			if got.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
				t.Errorf("ReturnValuesOnConditionCheckFailure = %q", got.ReturnValuesOnConditionCheckFailure)
			}
			stale := got.ExpressionAttributeValues[":stale"].(*types.AttributeValueMemberN).Value
			claimed := got.Item["claimed_at"].(*types.AttributeValueMemberN).Value
			if stale != "1767225595250" || claimed != "1767225605250" {
				t.Errorf("claimed_at %s, stale %s: want epoch ms, 10 s apart", claimed, stale)
			}
		})
	}
}
