// Debian's libsecp256k1 (libsecp256k1-dev) with its recovery module.
#include <secp256k1.h>
#include <secp256k1_recovery.h>

// Compound macros are not imported into Swift; these give them names.
static inline unsigned int csecp256k1_context_none(void) { return SECP256K1_CONTEXT_NONE; }
static inline unsigned int csecp256k1_ec_uncompressed(void) { return SECP256K1_EC_UNCOMPRESSED; }
static inline unsigned int csecp256k1_ec_compressed(void) { return SECP256K1_EC_COMPRESSED; }
