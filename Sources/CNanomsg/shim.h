#ifndef SMRTCHAT_CNANOMSG_SHIM_H
#define SMRTCHAT_CNANOMSG_SHIM_H
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/ipc.h>
#include <nanomsg/tcp.h>
#include <nanomsg/inproc.h>
#endif
