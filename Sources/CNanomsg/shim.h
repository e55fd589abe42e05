#ifndef SMRTCHAT_CNANOMSG_SHIM_H
#define SMRTCHAT_CNANOMSG_SHIM_H
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/ipc.h>
#include <nanomsg/tcp.h>
#include <nanomsg/inproc.h>

/*
 * Swift imports only macros that are plain literals; casts such as NN_MSG and
 * macros built from other macros are dropped or typed unpredictably. These
 * constants give Swift one typed (int / size_t) name per value we use. They
 * carry a CNN_ prefix because re-declaring the macro names themselves would
 * be rewritten by the preprocessor.
 */

/* Address families and protocols. */
static const int CNN_AF_SP = AF_SP;
static const int CNN_AF_SP_RAW = AF_SP_RAW;
static const int CNN_REQ = NN_REQ;
static const int CNN_REP = NN_REP;
static const int CNN_PUB = NN_PUB;
static const int CNN_SUB = NN_SUB;

/* Option levels and generic socket options. */
static const int CNN_SOL_SOCKET = NN_SOL_SOCKET;
static const int CNN_STAT_CURRENT_CONNECTIONS = NN_STAT_CURRENT_CONNECTIONS;
static const int CNN_STAT_ACCEPTED_CONNECTIONS = NN_STAT_ACCEPTED_CONNECTIONS;
static const int CNN_STAT_DROPPED_CONNECTIONS = NN_STAT_DROPPED_CONNECTIONS;
static const int CNN_STAT_MESSAGES_SENT = NN_STAT_MESSAGES_SENT;
static const int CNN_LINGER = NN_LINGER;
static const int CNN_SNDBUF = NN_SNDBUF;
static const int CNN_RCVBUF = NN_RCVBUF;
static const int CNN_SNDTIMEO = NN_SNDTIMEO;
static const int CNN_RCVTIMEO = NN_RCVTIMEO;
static const int CNN_RECONNECT_IVL = NN_RECONNECT_IVL;
static const int CNN_RECONNECT_IVL_MAX = NN_RECONNECT_IVL_MAX;
static const int CNN_SNDFD = NN_SNDFD;
static const int CNN_RCVFD = NN_RCVFD;
static const int CNN_RCVMAXSIZE = NN_RCVMAXSIZE;

/* Protocol-level options: the option level of a protocol is its id. */
static const int CNN_SUB_SUBSCRIBE = NN_SUB_SUBSCRIBE;
static const int CNN_SUB_UNSUBSCRIBE = NN_SUB_UNSUBSCRIBE;
static const int CNN_REQ_RESEND_IVL = NN_REQ_RESEND_IVL;

/* Flags and polling. */
static const int CNN_DONTWAIT = NN_DONTWAIT;
/*
 * NN_MSG is ((size_t) -1). A static const would be imported as an integer literal that
 * overflows Swift's Int (size_t maps to Int), so it is exposed as a function instead.
 */
static inline size_t cnn_msg(void) { return NN_MSG; }
static const short CNN_POLLIN = NN_POLLIN;
static const short CNN_POLLOUT = NN_POLLOUT;

/*
 * Error numbers. On Linux most are the system errno values (nn.h only defines
 * the ones the platform lacks); ETERM and EFSM are nanomsg's own.
 */
static const int CNN_EINTR = EINTR;
static const int CNN_EAGAIN = EAGAIN;
static const int CNN_ETIMEDOUT = ETIMEDOUT;
static const int CNN_EBADF = EBADF;
static const int CNN_ETERM = ETERM;
static const int CNN_EFSM = EFSM;
static const int CNN_EADDRINUSE = EADDRINUSE;
static const int CNN_EINVAL = EINVAL;
static const int CNN_EMSGSIZE = EMSGSIZE;

/*
 * Zero-copy nn_recvmsg: the body chunk lands in *body and the control (ancillary)
 * chunk in *control; both must be released with nn_freemsg. Returns the body size,
 * or -1 with nn_errno() set, exactly like nn_recvmsg.
 */
static inline int cnn_recvmsg_zerocopy(int s, void **body, void **control, int flags) {
    struct nn_iovec iov;
    struct nn_msghdr hdr;
    *body = NULL;
    *control = NULL;
    iov.iov_base = body;
    iov.iov_len = NN_MSG;
    memset(&hdr, 0, sizeof(hdr));
    hdr.msg_iov = &iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = control;
    hdr.msg_controllen = NN_MSG;
    return nn_recvmsg(s, &hdr, flags);
}

/*
 * Finds the SP_HDR property in a control chunk returned by cnn_recvmsg_zerocopy.
 * Its data is a size_t length followed by that many bytes of routing header (the
 * backtrace of a raw REP socket). Returns 0 and sets *data/*len, or -1 if absent.
 */
static inline int cnn_control_sphdr(void *control, const unsigned char **data, size_t *len) {
    struct nn_msghdr hdr;
    struct nn_cmsghdr *cmsg;
    memset(&hdr, 0, sizeof(hdr));
    /* With NN_MSG, nanomsg reads the chunk pointer and asks the chunk for its size. */
    hdr.msg_control = &control;
    hdr.msg_controllen = NN_MSG;
    for (cmsg = NN_CMSG_FIRSTHDR(&hdr); cmsg != NULL; cmsg = NN_CMSG_NXTHDR(&hdr, cmsg)) {
        if (cmsg->cmsg_level == PROTO_SP && cmsg->cmsg_type == SP_HDR) {
            size_t payload = cmsg->cmsg_len - NN_CMSG_SPACE(0);
            size_t spsz;
            if (payload < sizeof(size_t)) {
                return -1;
            }
            memcpy(&spsz, NN_CMSG_DATA(cmsg), sizeof(size_t));
            if (spsz > payload - sizeof(size_t)) {
                return -1;
            }
            *data = NN_CMSG_DATA(cmsg) + sizeof(size_t);
            *len = spsz;
            return 0;
        }
    }
    return -1;
}

/*
 * nn_sendmsg with one body buffer and an SP_HDR control property carrying the
 * given routing header (as received by cnn_control_sphdr). The body is copied by
 * nanomsg. Returns like nn_sendmsg; nn_errno() is preserved across the cleanup.
 */
static inline int cnn_sendmsg_sphdr(int s, const void *body, size_t bodylen,
                                    const void *sphdr, size_t sphdrlen, int flags) {
    static const unsigned char empty = 0;
    size_t space = NN_CMSG_SPACE(sizeof(size_t) + sphdrlen);
    unsigned char *control = calloc(1, space);
    struct nn_cmsghdr *cmsg = (struct nn_cmsghdr *) control;
    struct nn_iovec iov;
    struct nn_msghdr hdr;
    int rc;
    int saved;
    if (control == NULL) {
        errno = ENOMEM;
        return -1;
    }
    cmsg->cmsg_len = NN_CMSG_LEN(sizeof(size_t) + sphdrlen);
    cmsg->cmsg_level = PROTO_SP;
    cmsg->cmsg_type = SP_HDR;
    memcpy(NN_CMSG_DATA(cmsg), &sphdrlen, sizeof(size_t));
    if (sphdrlen > 0) {
        memcpy(NN_CMSG_DATA(cmsg) + sizeof(size_t), sphdr, sphdrlen);
    }
    iov.iov_base = (void *) (body != NULL ? body : &empty);
    iov.iov_len = bodylen;
    memset(&hdr, 0, sizeof(hdr));
    hdr.msg_iov = &iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = control;
    hdr.msg_controllen = space;
    rc = nn_sendmsg(s, &hdr, flags);
    saved = errno;
    free(control);
    errno = saved;
    return rc;
}

#endif
