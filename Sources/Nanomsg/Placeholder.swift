/// Placeholder: the safe nanomsg wrapper is being written.
public enum NanomsgPlaceholder {}
