build-StreamFunction: FORCE
	go build -o $(ARTIFACTS_DIR)/bootstrap ./functions/stream
