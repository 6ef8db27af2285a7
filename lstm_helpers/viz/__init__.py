"""The pictures: static diagrams and plots (:mod:`.plots`) and live slider apps (:mod:`.widgets`)."""
