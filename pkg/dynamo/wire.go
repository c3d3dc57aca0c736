package dynamo

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/order"
)

// NotifyMarkerPrefix is the key prefix of the notify function's processed-event markers
// in the idempotency table (NewMarkerStore's prefix).
const NotifyMarkerPrefix = "notify#"

// EncodeOrder returns o as an item of the orders table, as OrderStore writes it: for a
// tool that must show or serve an order item without a table.
func EncodeOrder(o *order.Order) (map[string]types.AttributeValue, error) {
	return marshalOrder(o)
}

// DoneMarkerItem returns the item of a processed-event marker whose effect was performed
// (status DONE, claimed at claimedAt): what MarkerStore.Claim finds for an event handled
// before.
func DoneMarkerItem(prefix, id string, claimedAt time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk":         attrS(prefix + id),
		"status":     attrS(markerDone),
		"claimed_at": attrN(claimedAt.UnixMilli()),
	}
}

// ItemJSON returns item in DynamoDB's JSON wire format ({"name":{"S":"..."}}), as the
// service sends it: for stubs of the service that must answer with items of this
// package's layout. It returns an error for an attribute type it does not know.
func ItemJSON(item map[string]types.AttributeValue) ([]byte, error) {
	m, err := wireMap(item)
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func wireMap(item map[string]types.AttributeValue) (map[string]any, error) {
	out := make(map[string]any, len(item))
	for k, v := range item {
		w, err := wire(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = w
	}
	return out, nil
}

func wire(v types.AttributeValue) (map[string]any, error) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}, nil
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}, nil
	case *types.AttributeValueMemberB:
		return map[string]any{"B": base64.StdEncoding.EncodeToString(v.Value)}, nil
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}, nil
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}, nil
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}, nil
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}, nil
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			w, err := wire(e)
			if err != nil {
				return nil, err
			}
			l[i] = w
		}
		return map[string]any{"L": l}, nil
	case *types.AttributeValueMemberM:
		m, err := wireMap(v.Value)
		if err != nil {
			return nil, err
		}
		return map[string]any{"M": m}, nil
	}
	return nil, fmt.Errorf("unsupported attribute type %T", v)
}
