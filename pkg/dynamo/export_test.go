package dynamo

// Queued returns how many takes of sku wait for the write in flight.
func (s *ConditionalInventoryStore) Queued(sku string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queued[sku])
}
