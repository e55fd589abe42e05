"""Generated protobuf modules of the smrt.chat.v1 API (do not edit: `make proto` regenerates them)."""
