"""SmrtChat Python client: signed protobuf RPC over nanomsg REQ/REP, gap-free room events and resumable
streamed agent replies."""
from smrtchat.client import OPERATIONS, Client, snake_case
from smrtchat.errors import ChatError, ChatTimeout, ResyncRequired, code_name
from smrtchat.events import EventSubscriber, parse_event_message, topic_prefix
from smrtchat.signing import canonical_string, client_request_message_id, dm_room_id, sign
from smrtchat.streaming import ReplyStream, parse_delta_message, stream_topic, wait_tool_decision
from smrtchat.v1 import chat_pb2, entities_pb2, events_pb2, rpc_pb2
from smrtchat.v1.rpc_pb2 import Code

__version__ = "0.1.0"
__all__ = [
    "Client", "EventSubscriber", "ChatError", "ChatTimeout", "ResyncRequired", "Code", "OPERATIONS",
    "chat_pb2", "entities_pb2", "events_pb2", "rpc_pb2", "sign", "canonical_string", "dm_room_id",
    "client_request_message_id", "snake_case", "code_name", "topic_prefix", "parse_event_message",
    "ReplyStream", "stream_topic", "parse_delta_message", "wait_tool_decision",
]
