package event

// Notification is one message to the order-notifications topic (pkg/topic publishes it).
// Attributes become String message attributes, which subscription filter policies match.
type Notification struct {
	Subject    string
	Body       string
	Attributes map[string]string
}
