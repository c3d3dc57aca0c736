// Package streamimage reads the images of the orders table's DynamoDB stream, as Lambda
// delivers them (aws-lambda-go's attribute values), with pkg/dynamo's codec: the one
// reader of the table's layout for the stream's publisher. It is apart from pkg/dynamo so
// that the functions that only store orders do not load aws-lambda-go's event types.
package streamimage

import (
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/order"
)

// Order reads an image of the orders table's stream into an order. It returns an error
// naming the attribute it could not read (an unsupported type, the wrong type, a
// malformed number or time).
func Order(img map[string]events.DynamoDBAttributeValue) (*order.Order, error) {
	item, err := attributes(img)
	if err != nil {
		return nil, err
	}
	return dynamo.DecodeOrder(item)
}

// attributes converts a stream image (aws-lambda-go's attribute values) into the SDK's
// attribute values, which the table's codec reads.
func attributes(img map[string]events.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	out := make(map[string]types.AttributeValue, len(img))
	for k, v := range img {
		a, err := attribute(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = a
	}
	return out, nil
}

func attribute(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		l := v.List()
		out := make([]types.AttributeValue, len(l))
		for i, e := range l {
			a, err := attribute(e)
			if err != nil {
				return nil, err
			}
			out[i] = a
		}
		return &types.AttributeValueMemberL{Value: out}, nil
	case events.DataTypeMap:
		m, err := attributes(v.Map())
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("unsupported attribute type %d", v.DataType())
}
